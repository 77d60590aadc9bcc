/**
 * Destination names from templates (`salesforce.{org}.{channel}`): a stream, subject, routing key
 * or topic per event. Each sink says which characters its destination allows; the rest become `_`
 * (`/data/AccountChangeEvent` → `data_AccountChangeEvent` for NATS subjects, kept for Redis keys).
 * Names repeat across events: they are computed once per (org, channel, kind) and kept, bounded.
 */
import type { Envelope } from '../envelope.js';

export const TEMPLATE_VARS = /\{(org|channel|route|kind)\}/g;

export class Destinations {
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly template: string,
    private readonly route: string,
    /** Make one substituted value safe for the destination (e.g. no dots in a NATS subject token). */
    private readonly safe: (value: string) => string = (v) => v,
  ) {}

  of(e: Envelope): string {
    const k = `${e.org}\u0000${e.channel}\u0000${e.kind}`;
    let name = this.cache.get(k);
    if (name === undefined) {
      const v: Record<string, string> = { org: e.org, channel: e.channel.replace(/^\//, ''), route: this.route, kind: e.kind };
      name = this.template.replace(TEMPLATE_VARS, (_m, key: string) => this.safe(v[key] ?? ''));
      if (this.cache.size < 10_000) this.cache.set(k, name);
    }
    return name;
  }
}
