/**
 * The emulated event bus: every published event gets the next replay id (a global, increasing
 * sequence, so ids increase per channel but are not contiguous) and is appended to each channel it
 * belongs to (an entity's CDC event goes to `/data/<Entity>ChangeEvent` and `/data/ChangeEvents`).
 * Events older than their channel class's retention disappear. Readers are told about new events
 * through `onPublish`. With a data directory the log survives restarts.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { Clock } from './clock.js';

export type EventClass = 'cdc' | 'platform' | 'pushtopic' | 'generic';

export interface BusEvent {
  seq: number;
  channel: string;
  channels: string[];
  cls: EventClass;
  time: number;
  eventId: string;
  schemaId: string | null;
  /** Avro payload (cdc, platform). */
  payload: Buffer | null;
  /** JSON data (pushtopic, generic). */
  data: unknown;
  recordIds: string[];
  changeType?: string;
  /** Fault injection: channels on which this event is served with a blank schema id. */
  blankSchemaOn?: string[];
}

export interface LedgerEntry {
  channel: string;
  replayId: number;
  eventId: string;
  recordIds: string[];
  kind: EventClass;
  changeType?: string;
  time: number;
}

const HOUR = 3600_000;
export const DEFAULT_RETENTION_MS: Record<EventClass, number> = {
  cdc: 72 * HOUR,
  platform: 72 * HOUR,
  pushtopic: 24 * HOUR,
  generic: 24 * HOUR,
};

interface ChannelLog {
  events: BusEvent[];
  /** Highest replay id that has expired out of this channel (0 = none). */
  expiredUpTo: number;
}

export type ReplayCheck = 'ok' | 'expired' | 'invalid';

/** Replay ids start here, like a busy org's, so nobody mistakes them for counters from 1. */
const FIRST_SEQ = 1_000_000;

export class EventBus {
  private seq = FIRST_SEQ;
  private readonly channels = new Map<string, ChannelLog>();
  private readonly listeners = new Set<(channels: string[]) => void>();
  readonly ledger: LedgerEntry[] = [];
  /** Replay ids at or below this were invalidated (fault injection: org migration). */
  invalidBefore = 0;
  private pendingLog: string[] = [];
  private flushScheduled = false;

  constructor(
    private readonly clock: Clock,
    private readonly retentionMs: Record<EventClass, number> = DEFAULT_RETENTION_MS,
    private readonly logPath: string | null = null,
    private readonly keepLedger = true,
  ) {
    if (logPath && existsSync(logPath)) this.load(logPath);
  }

  get latestSeq(): number {
    return this.seq;
  }

  /** The events a channel still retains, oldest first. */
  retained(channel: string): readonly BusEvent[] {
    return this.channels.get(channel)?.events ?? [];
  }

  onPublish(fn: (channels: string[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  publish(e: Omit<BusEvent, 'seq' | 'time'> & { time?: number }): BusEvent {
    const ev: BusEvent = { ...e, seq: ++this.seq, time: e.time ?? this.clock.now() };
    this.append(ev);
    if (this.logPath) this.logLater(ev);
    for (const l of this.listeners) l(ev.channels);
    return ev;
  }

  private append(ev: BusEvent): void {
    if (ev.seq > this.seq) this.seq = ev.seq;
    for (const ch of ev.channels) this.log(ch).events.push(ev);
    if (this.keepLedger) {
      this.ledger.push({
        channel: ev.channel,
        replayId: ev.seq,
        eventId: ev.eventId,
        recordIds: ev.recordIds,
        kind: ev.cls,
        changeType: ev.changeType,
        time: ev.time,
      });
    }
  }

  private log(channel: string): ChannelLog {
    let l = this.channels.get(channel);
    if (!l) this.channels.set(channel, (l = { events: [], expiredUpTo: 0 }));
    return l;
  }

  /** Drop expired events from the head of a channel. */
  private purge(channel: string, cls: EventClass): ChannelLog {
    const l = this.log(channel);
    const cutoff = this.clock.now() - this.retentionMs[cls];
    let n = 0;
    while (n < l.events.length && (l.events[n] as BusEvent).time < cutoff) n++;
    if (n > 0) {
      l.expiredUpTo = (l.events[n - 1] as BusEvent).seq;
      l.events.splice(0, n);
    }
    return l;
  }

  /** Up to `max` retained events of `channel` with replay id greater than `after`. */
  read(channel: string, cls: EventClass, after: number, max: number): BusEvent[] {
    const l = this.purge(channel, cls);
    const evs = l.events;
    let lo = 0;
    let hi = evs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((evs[mid] as BusEvent).seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return evs.slice(lo, lo + max);
  }

  /** Cursor for EARLIEST: just before the oldest retained event. */
  earliestCursor(channel: string, cls: EventClass): number {
    const l = this.purge(channel, cls);
    const first = l.events[0];
    return first ? first.seq - 1 : Math.max(l.expiredUpTo, this.seq);
  }

  /** Newest replay id of the channel (for keepalives), or the bus position when it has none. */
  channelLatest(channel: string): number {
    const l = this.channels.get(channel);
    const last = l?.events[l.events.length - 1];
    return last ? last.seq : this.seq;
  }

  /** Can a subscriber resume after `replayId`? */
  check(channel: string, cls: EventClass, replayId: number): ReplayCheck {
    if (!Number.isSafeInteger(replayId) || replayId < 0 || replayId > this.seq) return 'invalid';
    if (replayId < this.invalidBefore) return 'invalid';
    const l = this.purge(channel, cls);
    if (replayId < l.expiredUpTo) return 'expired';
    return 'ok';
  }

  retainedCount(channel: string, cls: EventClass): number {
    return this.purge(channel, cls).events.length;
  }

  private logLater(ev: BusEvent): void {
    this.pendingLog.push(JSON.stringify({ ...ev, payload: ev.payload ? ev.payload.toString('base64') : null }));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Write buffered log lines (called on a timer and at shutdown). */
  flush(): void {
    this.flushScheduled = false;
    if (!this.logPath || this.pendingLog.length === 0) return;
    const lines = this.pendingLog;
    this.pendingLog = [];
    appendFileSync(this.logPath, `${lines.join('\n')}\n`);
  }

  private load(path: string): void {
    const text = readFileSync(path, 'utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const raw = JSON.parse(line) as BusEvent & { payload: string | null };
        this.append({ ...raw, payload: raw.payload ? Buffer.from(raw.payload, 'base64') : null });
      } catch {
        // A torn last line after a crash: everything before it is intact.
      }
    }
  }
}

export function replayIdBytes(seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b;
}

/** Replay id bytes as a number, or NaN when they are not 8 bytes. */
export function replayIdFromBytes(b: Uint8Array | undefined | null): number {
  if (b?.length !== 8) return Number.NaN;
  return Number(Buffer.from(b).readBigUInt64BE());
}
