/** Ownership leases for running several bridge instances on one shared replay store (HA). */
import { BridgeError } from '../errors.js';

export interface Lease {
  key: string;
  owner: string;
  /** Increases with every new owner; commits carrying an older token are rejected. */
  fencing: number;
}

/** A replay store that can also hand out leases (Redis, PostgreSQL). */
export interface LeaseStore {
  acquire(key: string, owner: string, ttlMs: number): Promise<Lease | null>;
  renew(lease: Lease, ttlMs: number): Promise<boolean>;
  release(lease: Lease): Promise<void>;
  /** Record this instance as alive; returns how many instances are alive. */
  heartbeat(owner: string, ttlMs: number): Promise<number>;
}

export function isLeaseStore(x: unknown): x is LeaseStore {
  return !!x && typeof (x as LeaseStore).acquire === 'function' && typeof (x as LeaseStore).renew === 'function';
}

/** A commit from an instance that no longer owns the subscription: never retried. */
export class FencedError extends BridgeError {
  constructor(key: string, lease?: Lease) {
    super(
      'FENCED',
      `commit of "${key}" rejected: this instance (${lease?.owner ?? '?'}, fencing ${lease?.fencing ?? '?'}) no longer owns the subscription`,
      { retriable: false },
    );
  }
}
