import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { stayAwayDelay } from '../../src/retry.js';
import { classifyError, DOCUMENTED_CODES } from '../../src/subscribers/pubsub/error-codes.js';

const P = 'sfdc.platform.eventbus.grpc.';

describe('Pub/Sub error codes', () => {
  it('decides by the documented code, whatever the gRPC status', () => {
    expect(classifyError(`${P}service.auth.error`, grpc.status.INTERNAL).action).toBe('reauth');
    expect(classifyError(`${P}subscription.fetch.replayid.corrupted`, grpc.status.INVALID_ARGUMENT).action).toBe('invalid-replay');
    // "topic" in a code no longer means fatal: these are retriable or long back-offs.
    expect(classifyError(`${P}topic.api.unavailable`, grpc.status.NOT_FOUND).action).toBe('retry');
    expect(classifyError(`${P}subscription.fetch.topic.mismatch`, grpc.status.INVALID_ARGUMENT).action).toBe('retry');
    expect(classifyError(`${P}subscription.limit.exceeded`, grpc.status.RESOURCE_EXHAUSTED).action).toBe('long');
    expect(classifyError(`${P}concurrent.client.limit.exceeded`, grpc.status.RESOURCE_EXHAUSTED).action).toBe('long');
    for (const c of ['topic.not.found', 'topic.notfound', 'subscription.topic.cannot.subscribe', 'service.tenant.license'])
      expect(classifyError(`${P}${c}`, grpc.status.UNKNOWN).action).toBe('fatal');
  });

  it('every fatal and long entry says what to do', () => {
    for (const code of DOCUMENTED_CODES) {
      const c = classifyError(code, undefined);
      expect(c.known).toBe(true);
      if (c.action === 'fatal' || c.action === 'long') expect(c.fix, code).toMatch(/\w{5,}/);
    }
  });

  it('without a known code, the gRPC status decides', () => {
    expect(classifyError(null, grpc.status.UNAUTHENTICATED).action).toBe('reauth');
    expect(classifyError(null, grpc.status.NOT_FOUND).action).toBe('fatal');
    expect(classifyError(`${P}something.new`, grpc.status.PERMISSION_DENIED)).toMatchObject({ action: 'fatal', known: false });
    expect(classifyError(null, grpc.status.UNAVAILABLE).action).toBe('retry');
    expect(classifyError('other.vendor.code', grpc.status.INTERNAL).action).toBe('retry');
  });

  it('long back-off: 5 min doubling to 1 h', () => {
    expect([1, 2, 3, 4, 5, 9].map(stayAwayDelay)).toEqual([300_000, 600_000, 1_200_000, 2_400_000, 3_600_000, 3_600_000]);
  });
});
