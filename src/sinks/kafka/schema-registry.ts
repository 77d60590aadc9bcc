/**
 * A client of the Confluent Schema Registry REST API (Confluent's registry, Apicurio's ccompat
 * API, Karapace, Redpanda's): register a schema under a subject once and keep its id. One call
 * per new (subject, schema), never one per event; concurrent asks for the same one share a call.
 * A refusal (409 incompatible, 422 invalid) is remembered for a while, so a stream of events
 * that all need the refused version does not call the registry once each.
 */
import type { Agent } from 'node:http';
import { BridgeError, errorMessage, RetriableError } from '../../errors.js';
import { httpCall } from '../../http.js';
import { redactUrl } from '../../log.js';

export interface RegistryOptions {
  url: string;
  username?: string;
  password?: string;
  /** Trusted CAs (PEM) when not the system's. */
  ca?: string | null;
  /** The agent to connect with (a proxy's tunnel, src/proxy.ts); else Node's default. */
  agent?: Agent;
  timeoutMs: number;
  /** How long a refusal is remembered before the registry is asked again. */
  refusalTtlMs?: number;
  now?: () => number;
}

export type SchemaType = 'AVRO' | 'JSON';

/** The registry refused a schema for good (409 incompatible, 422 invalid): its own words. */
export class SchemaRefused extends BridgeError {
  constructor(
    readonly subject: string,
    readonly status: number,
    readonly reason: string,
  ) {
    super('SCHEMA_REFUSED', `schema registry refused a new version of subject ${subject} (HTTP ${status}): ${reason}`, {
      retriable: false,
    });
  }
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export class SchemaRegistryClient {
  private readonly ids = new Map<string, Promise<number>>();
  private readonly refused = new Map<string, { err: SchemaRefused; until: number }>();
  private readonly base: string;
  private readonly headers: Record<string, string>;
  /** Registry calls made (registrations and lookups), for /status and tests. */
  calls = 0;

  constructor(private readonly o: RegistryOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.headers = { accept: CONTENT_TYPE, 'content-type': CONTENT_TYPE };
    if (o.username !== undefined)
      this.headers.authorization = `Basic ${Buffer.from(`${o.username}:${o.password ?? ''}`).toString('base64')}`;
  }

  /** The id of `schema` under `subject`, registering it on first use. */
  register(subject: string, schema: string, schemaType: SchemaType): Promise<number> {
    const key = `${subject}\n${schemaType}\n${schema}`;
    const no = this.refused.get(key);
    const now = (this.o.now ?? Date.now)();
    if (no && no.until > now) return Promise.reject(no.err);
    let p = this.ids.get(key);
    if (!p) {
      p = this.post(subject, schema, schemaType).catch((err) => {
        this.ids.delete(key);
        if (err instanceof SchemaRefused) this.refused.set(key, { err, until: now + (this.o.refusalTtlMs ?? 30_000) });
        throw err;
      });
      this.ids.set(key, p);
    }
    return p;
  }

  /** The latest schema registered under `subject`, or null when there is none (or it cannot be read). */
  async latest(subject: string): Promise<string | null> {
    try {
      const r = await this.call('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`);
      if (r.status !== 200) return null;
      return (JSON.parse(r.text) as { schema?: string }).schema ?? null;
    } catch {
      return null;
    }
  }

  private async post(subject: string, schema: string, schemaType: SchemaType): Promise<number> {
    const body = JSON.stringify(schemaType === 'AVRO' ? { schema } : { schema, schemaType });
    const r = await this.call('POST', `/subjects/${encodeURIComponent(subject)}/versions`, body);
    if (r.status === 200) {
      const id = (JSON.parse(r.text) as { id?: unknown }).id;
      if (typeof id === 'number') return id;
      throw new RetriableError('SCHEMA_REGISTRY', `schema registry ${this.where()}: no id in its answer (${r.text.slice(0, 200)})`);
    }
    const reason = registryMessage(r.text);
    if (r.status === 409 || r.status === 422) throw new SchemaRefused(subject, r.status, reason);
    if (r.status === 401 || r.status === 403)
      throw new BridgeError(
        'SCHEMA_REGISTRY_AUTH',
        `schema registry ${this.where()} refused the credentials (HTTP ${r.status}: ${reason}); check the sink's schemaRegistry.username and password`,
        { retriable: false },
      );
    throw new RetriableError('SCHEMA_REGISTRY', `schema registry ${this.where()} answered HTTP ${r.status}: ${reason}`);
  }

  private async call(method: string, path: string, body?: string) {
    this.calls++;
    try {
      return await httpCall(`${this.base}${path}`, {
        method,
        headers: this.headers,
        body,
        ca: this.o.ca,
        agent: this.o.agent,
        timeoutMs: this.o.timeoutMs,
        maxBodyBytes: 1 << 20,
      });
    } catch (err) {
      throw new RetriableError('SCHEMA_REGISTRY', `schema registry ${this.where()} is unreachable: ${errorMessage(err)}`);
    }
  }

  private where(): string {
    return redactUrl(this.base);
  }
}

/** The registry's own error text (`{"error_code":409,"message":"…"}`), else the body as given. */
function registryMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string' && m) return m.replace(/\s+/g, ' ').slice(0, 500);
  } catch {}
  return text.replace(/\s+/g, ' ').slice(0, 300) || '(no message)';
}
