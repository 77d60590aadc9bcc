/**
 * The org limits poller: what it logs. A limit past warnPercent is warned once per crossing; a
 * failed poll is warned, except when the login failed (the token provider says so itself) or
 * the bridge had stopped while the poll was out.
 */
import { describe, expect, it } from 'vitest';
import { RetriableError } from '../../src/errors.js';
import { LimitsPoller } from '../../src/salesforce/limits-poller.js';
import type { RestClient } from '../../src/salesforce/rest.js';
import { captureLogger } from '../helpers/bridge.js';

function poller(answer: () => Promise<unknown>) {
  const { log, capture } = captureLogger('debug');
  const rest = { request: answer } as unknown as RestClient;
  return { p: new LimitsPoller('prod', rest, { intervalMs: 60_000, warnPercent: 80 }, log), capture };
}

const warnings = (capture: { lines(): Array<Record<string, unknown>> }) =>
  capture
    .lines()
    .filter((l) => l.level === 'warn')
    .map((l) => String(l.msg));

describe('limits poller', () => {
  it('warns once when a limit crosses warnPercent, and again only after it fell back', async () => {
    let remaining = 10;
    const { p, capture } = poller(async () => ({ DailyApiRequests: { Max: 100, Remaining: remaining } }));
    await p.poll();
    await p.poll();
    expect(warnings(capture)).toEqual([expect.stringMatching(/^Salesforce limit DailyApiRequests is 90% used \(10 of 100 left\)/)]);
    remaining = 50;
    await p.poll();
    remaining = 5;
    await p.poll();
    expect(warnings(capture)).toHaveLength(2);
    expect(p.snapshot().values.DailyApiRequests).toEqual({ max: 100, remaining: 5 });
  });

  it('a failed poll is warned and kept in the snapshot, but a failed login is left to the token provider', async () => {
    const net = poller(async () => {
      throw new Error('socket hang up');
    });
    await net.p.poll();
    expect(warnings(net.capture)).toEqual([expect.stringMatching(/^could not read the org limits/)]);

    const login = poller(async () => {
      throw new RetriableError('AUTH_NETWORK', 'orgs.prod.auth: cannot reach https://login.example.com/services/oauth2/token: refused');
    });
    await login.p.poll();
    expect(warnings(login.capture)).toEqual([]);
    expect(login.p.snapshot().error).toMatch(/cannot reach/);
  });

  it('says nothing of a poll that fails after the bridge stopped', async () => {
    let fail: (err: Error) => void = () => undefined;
    const { p, capture } = poller(() => new Promise((_, reject) => (fail = reject)));
    const out = p.poll();
    p.stop();
    fail(new Error('socket hang up'));
    await out;
    expect(warnings(capture)).toEqual([]);
  });
});
