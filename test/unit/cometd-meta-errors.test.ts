import { describe, expect, it } from 'vitest';
import { classifyMetaError } from '../../src/subscribers/cometd/meta-errors.js';

describe('CometD meta errors', () => {
  const hs = (reason: string) => classifyMetaError('/meta/handshake', '403::Handshake denied', reason).action;
  it('a denied handshake is read by its failureReason', () => {
    expect(hs('401::Authentication invalid')).toBe('reauth');
    expect(hs('')).toBe('reauth');
    expect(hs('503::Server is too busy')).toBe('retry');
    expect(hs('403::Organization concurrent user limit exceeded')).toBe('stay-away');
    expect(hs('403::Something new')).toBe('retry');
  });
  it('connect errors', () => {
    expect(classifyMetaError('/meta/connect', '403::Organization total events daily limit exceeded', '').action).toBe('stay-away');
    expect(classifyMetaError('/meta/connect', '403::Unknown client', '').action).toBe('rehandshake');
    expect(classifyMetaError('/meta/connect', '401::Authentication invalid', '').action).toBe('reauth');
    expect(classifyMetaError('/meta/connect', '', '').said).toBe('');
  });
});
