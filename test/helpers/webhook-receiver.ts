/**
 * A local webhook receiver for tests: verifies every request with the public `standardwebhooks`
 * package, records each attempt, and answers as the test's `respond` function says.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Attempt {
  id: string;
  timestamp: number;
  at: number;
  verified: boolean;
  verifyError?: string;
  body: any;
  status: number;
}

export type Reply = { status: number; headers?: Record<string, string>; delayMs?: number };

export class Receiver {
  readonly attempts: Attempt[] = [];
  /** Bodies of requests answered 2xx, in arrival order. */
  readonly delivered: any[] = [];
  /** Content-Type of every request, in arrival order. */
  readonly contentTypes: string[] = [];
  respond: (a: Omit<Attempt, 'status'>, n: number) => Reply = () => ({ status: 200 });
  private server!: Server;
  private readonly wh: Webhook;

  constructor(secret: string) {
    this.wh = new Webhook(secret);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** Attempts per webhook-id, in order. */
  attemptsFor(id: string): Attempt[] {
    return this.attempts.filter((a) => a.id === id);
  }

  start(): Promise<void> {
    this.server = createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (c) => {
        text += c;
      });
      req.on('end', () => {
        this.contentTypes.push(String(req.headers['content-type'] ?? ''));
        const a = this.verify(text, req.headers);
        const reply = this.respond(a, this.attempts.filter((x) => x.id === a.id).length + 1);
        const rec: Attempt = { ...a, status: reply.status };
        this.attempts.push(rec);
        const send = () => {
          if (res.destroyed) return;
          if (reply.status >= 200 && reply.status < 300 && a.verified) this.delivered.push(a.body);
          res.writeHead(reply.status, reply.headers ?? {});
          res.end(reply.status >= 400 ? `status ${reply.status} from test receiver` : 'ok');
        };
        if (reply.delayMs) setTimeout(send, reply.delayMs);
        else send();
      });
    });
    this.server.keepAliveTimeout = 1000;
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  private verify(text: string, headers: IncomingHttpHeaders): Omit<Attempt, 'status'> {
    const id = String(headers['webhook-id'] ?? '');
    const timestamp = Number(headers['webhook-timestamp']);
    try {
      const body = this.wh.verify(text, headers as Record<string, string>);
      return { id, timestamp, at: Date.now(), verified: true, body };
    } catch (err) {
      return { id, timestamp, at: Date.now(), verified: false, verifyError: (err as Error).message, body: safeJson(text) };
    }
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function safeJson(t: string): unknown {
  try {
    return JSON.parse(t);
  } catch {
    return t;
  }
}
