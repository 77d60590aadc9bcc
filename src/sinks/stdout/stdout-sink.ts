/**
 * stdout sink (used by `sfbridge tail`): one envelope per line as JSON, or a short human line.
 * Honours stdout back-pressure, so piping into a slow consumer slows the route instead of
 * buffering without bound; a closed pipe (EPIPE, e.g. `| head`) ends the write quietly.
 */
import type { Writable } from 'node:stream';
import { z } from 'zod';
import { type Envelope, envelopeJson, payloadJson } from '../../envelope.js';
import { BridgeError } from '../../errors.js';
import type { Sink } from '../types.js';

export const stdoutSinkConfigSchema = z.strictObject({
  type: z.literal('stdout'),
  format: z.enum(['json', 'pretty']).default('json'),
  /** Print at most this many events, then drop the rest (`sfbridge tail --limit`). */
  limit: z.number().int().positive().optional(),
});
export type StdoutSinkConfig = z.infer<typeof stdoutSinkConfigSchema>;

export function prettyLine(e: Envelope): string {
  const h = e.changeHeader;
  const what = h
    ? `${h.changeType} ${h.entity} ${h.recordIds.join(',')}${h.changedFields.length ? ` [${h.changedFields.join(', ')}]` : ''}`
    : e.kind === 'replay-gap'
      ? `REPLAY GAP ${payloadJson(e)}`
      : payloadJson(e);
  return `${e.eventTime ?? e.receivedAt}  ${e.channel}  #${e.replayId}  ${e.kind}  ${what}`;
}

export class StdoutSink implements Sink {
  private closed = false;
  private printed = 0;

  constructor(
    private readonly config: StdoutSinkConfig,
    private readonly out: Writable = process.stdout,
  ) {}

  describe(): string {
    return `stdout (${this.config.format})`;
  }

  async open(): Promise<void> {
    this.out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') this.closed = true;
    });
  }

  async write(batch: readonly Envelope[]): Promise<void> {
    if (this.closed) throw new BridgeError('STDOUT_CLOSED', 'stdout was closed by the reader', { retriable: false });
    if (this.config.limit !== undefined) {
      batch = batch.slice(0, Math.max(0, this.config.limit - this.printed));
      if (batch.length === 0) return;
    }
    this.printed += batch.length;
    const text = batch.map((e) => (this.config.format === 'json' ? envelopeJson(e) : prettyLine(e))).join('\n') + '\n';
    if (!this.out.write(text)) await new Promise<void>((resolve) => this.out.once('drain', resolve));
  }

  /** Events printed so far. */
  get count(): number {
    return this.printed;
  }

  async drain(): Promise<void> {}
  async close(): Promise<void> {}
}
