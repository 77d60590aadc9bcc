/** A small Salesforce REST client: bearer auth from a TokenProvider, one retry after a 401. */

import type { Agent } from 'node:http';
import type { TokenProvider } from '../auth/types.js';
import { BridgeError, errorMessage, RetriableError } from '../errors.js';
import { httpCall } from '../http.js';

export class SalesforceApiError extends BridgeError {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(`SF_${errorCode}`, message, { retriable: status >= 500 || status === 429 });
  }
}

export class RestClient {
  /** REST calls made (each counts against the org's DailyApiRequests). */
  calls = 0;
  /**
   * Salesforce's clock minus ours (ms), from the last response's Date header (1 s resolution), or
   * null before any response: retention is counted on Salesforce's clock, not this machine's.
   */
  clockOffsetMs: number | null = null;
  /** The org's daily API requests, used and allowed, from the last response's Sforce-Limit-Info header, or null. */
  apiUsage: { used: number; max: number } | null = null;

  constructor(
    private readonly tokens: TokenProvider,
    private readonly apiVersion: string,
    private readonly ca: string | null = null,
    /** Sent with every call (e.g. `Sforce-Call-Options: client=<name>`). */
    private readonly extraHeaders: Record<string, string> = {},
    /** The agent for a URL: a tunnel through the org's proxy, or undefined (direct). */
    private readonly agentFor: (url: string) => Agent | undefined = () => undefined,
  ) {}

  /** A client for the same org that sends these headers with every call (its own counters). */
  withHeaders(headers: Record<string, string>): RestClient {
    return new RestClient(this.tokens, this.apiVersion, this.ca, { ...this.extraHeaders, ...headers }, this.agentFor);
  }

  /**
   * `path` is relative to /services/data/vXX.X (e.g. `/sobjects/PushTopic`). `body` is sent as
   * JSON, or as it is when given as `{ raw, contentType }` (a Bulk API CSV upload).
   */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const raw = body instanceof RawBody ? body : null;
    for (let attempt = 1; ; attempt++) {
      const tok = await this.tokens.getToken();
      let res: Awaited<ReturnType<typeof httpCall>>;
      this.calls++;
      try {
        const url = `${tok.instanceUrl}/services/data/v${this.apiVersion}${path}`;
        res = await httpCall(url, {
          agent: this.agentFor(url),
          method,
          headers: {
            ...this.extraHeaders,
            authorization: `Bearer ${tok.accessToken}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': raw ? raw.contentType : 'application/json' }),
          },
          body: body === undefined ? undefined : raw ? raw.text : JSON.stringify(body),
          ca: this.ca,
        });
      } catch (err) {
        if (err instanceof BridgeError && err.code === 'PROXY' && !err.retriable) throw err;
        throw new RetriableError('SF_NETWORK', `cannot reach ${tok.instanceUrl}: ${errorMessage(err)}`, err);
      }
      this.noteServerTime(res.headers.date);
      this.noteUsage(res.headers['sforce-limit-info']);
      if (res.status === 401 && attempt === 1) {
        this.tokens.invalidate(tok.accessToken);
        continue;
      }
      const json = res.text ? safeJson(res.text) : null;
      if (res.status >= 400) {
        const first = Array.isArray(json)
          ? (json[0] as { errorCode?: string; message?: string })
          : (json as { errorCode?: string; message?: string } | null);
        throw new SalesforceApiError(
          res.status,
          first?.errorCode ?? `HTTP_${res.status}`,
          `${method} ${path}: ${first?.errorCode ?? `HTTP ${res.status}`}: ${first?.message ?? res.text.slice(0, 200)}`,
        );
      }
      return json as T;
    }
  }

  /** `api-usage=18/5000` (REST API Developer Guide, Limit Info Header). */
  private noteUsage(header: string | string[] | undefined): void {
    const m = typeof header === 'string' ? /api-usage=(\d+)\/(\d+)/.exec(header) : null;
    if (m) this.apiUsage = { used: Number(m[1]), max: Number(m[2]) };
  }

  private noteServerTime(date: string | string[] | undefined): void {
    const at = typeof date === 'string' ? Date.parse(date) : Number.NaN;
    // The header has whole seconds: count the half second it hides so the estimate is unbiased.
    if (Number.isFinite(at)) this.clockOffsetMs = at + 500 - Date.now();
  }

  /** A GET whose body is not JSON (Bulk API CSV results): the text and the response headers. */
  async getText(path: string): Promise<{ text: string; headers: Record<string, string | string[] | undefined> }> {
    const tok = await this.tokens.getToken();
    this.calls++;
    let res: Awaited<ReturnType<typeof httpCall>>;
    try {
      const url = `${tok.instanceUrl}/services/data/v${this.apiVersion}${path}`;
      res = await httpCall(url, {
        agent: this.agentFor(url),
        method: 'GET',
        headers: { ...this.extraHeaders, authorization: `Bearer ${tok.accessToken}`, accept: 'text/csv' },
        ca: this.ca,
      });
    } catch (err) {
      throw new RetriableError('SF_NETWORK', `cannot reach ${tok.instanceUrl}: ${errorMessage(err)}`, err);
    }
    if (res.status === 401) this.tokens.invalidate(tok.accessToken);
    if (res.status >= 400)
      throw new SalesforceApiError(res.status, `HTTP_${res.status}`, `GET ${path}: HTTP ${res.status}: ${res.text.slice(0, 200)}`);
    return { text: res.text, headers: res.headers };
  }

  async query<T = Record<string, unknown>>(soql: string): Promise<T[]> {
    const r = await this.request<{ records: T[] }>('GET', `/query?q=${encodeURIComponent(soql)}`);
    return r.records;
  }

  /** A query of the Tooling API (setup objects: channels, managed subscriptions). */
  async toolingQuery<T = Record<string, unknown>>(soql: string): Promise<T[]> {
    return (await this.request<{ records: T[] }>('GET', `/tooling/query?q=${encodeURIComponent(soql)}`)).records;
  }
}

/** A request body sent as it is, with its content type (not JSON). */
export class RawBody {
  constructor(
    readonly text: string,
    readonly contentType: string,
  ) {}
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
