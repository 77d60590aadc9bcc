/**
 * In-memory replay store: positions live only as long as the process. Used by `sfbridge tail`
 * (watching a channel must not move the real route's position) and for experiments; a daemon
 * using it starts from the source's `initial` setting after every restart.
 */
import { z } from 'zod';
import type { CommitRequest, ReplayStore, StoredPosition } from '../types.js';

export const memoryStoreConfigSchema = z.strictObject({
  type: z.literal('memory'),
});

export class MemoryReplayStore implements ReplayStore {
  private readonly positions = new Map<string, StoredPosition>();
  describe(): string {
    return 'memory (positions are not kept across restarts)';
  }
  async open(): Promise<void> {}
  async load(key: string): Promise<StoredPosition | undefined> {
    return this.positions.get(key);
  }
  async commit(key: string, p: CommitRequest): Promise<StoredPosition> {
    const stored = { key, replayId: p.replayId, eventTime: p.eventTime, committedAt: new Date().toISOString() };
    this.positions.set(key, stored);
    return stored;
  }
  async list(): Promise<StoredPosition[]> {
    return [...this.positions.values()];
  }
  async delete(key: string): Promise<boolean> {
    return this.positions.delete(key);
  }
  async close(): Promise<void> {}
}
