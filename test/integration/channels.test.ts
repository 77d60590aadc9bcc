/**
 * Salesforce-side filters as code (issue 29 item 4): `sfbridge channels apply` creates a filtered
 * custom channel through the Tooling API; the emulator then delivers only matching events on it,
 * over Pub/Sub and CometD alike; a second apply changes nothing; drift is reported, and pruned
 * only when asked; `check` refuses a filter Salesforce would refuse.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { emulatorOrg, makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { captureStdout, until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const CHANNEL = '/data/Energy__chn';

describe('custom channels with filters', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  function configFile(dir: string, filter: string): string {
    const path = join(dir, 'sfbridge.yaml');
    writeFileSync(
      path,
      JSON.stringify({
        orgs: {
          emu: { ...emulatorOrg(t), channels: [{ name: 'Energy__chn', members: [{ entity: 'AccountChangeEvent', filter }] }] },
        },
        routes: [{ source: { type: 'pubsub', org: 'emu', topic: CHANNEL }, sinks: [{ type: 'stdout' }] }],
      }),
    );
    return path;
  }

  async function cli(args: string[]): Promise<{ code: number; text: string }> {
    const out = captureStdout();
    try {
      const code = await main(args);
      return { code, text: out.text() };
    } finally {
      out.restore();
    }
  }

  it('apply creates the filtered channel; Pub/Sub and CometD routes on it receive only Energy-industry Account changes', async () => {
    const dir = tempDir();
    const cfg = configFile(dir, "Industry = 'Energy'");
    const first = await cli(['channels', 'apply', '-c', cfg]);
    expect(first.text).toContain('emu: Energy__chn created');
    expect(first.text).toContain("emu: Energy__chn AccountChangeEvent created (filter: Industry = 'Energy')");
    expect(first.code).toBe(0);
    // The second run finds everything in place.
    const second = await cli(['channels', 'apply', '-c', cfg]);
    expect(second.text).toMatch(/Energy__chn unchanged\n.*Energy__chn AccountChangeEvent unchanged/);
    const list = await cli(['channels', 'list', '-c', cfg]);
    expect(list.text).toContain("AccountChangeEvent  filter: Industry = 'Energy'");

    const [viaPubsub, viaCometd] = [join(dir, 'pubsub'), join(dir, 'cometd')];
    const b = makeBridge(t, dir, [
      {
        name: 'energy-pubsub',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinks: [{ type: 'file', dir: viaPubsub }],
      },
      {
        name: 'energy-cometd',
        source: { type: 'cometd', org: 'emu', channel: CHANNEL, initial: 'latest' },
        sinks: [{ type: 'file', dir: viaCometd }],
      },
    ]);
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    await until(() => b.bridge.status().routes.every((r) => r.sourceStats.subscribed === 1), 20_000, 'both routes subscribed');
    const energy: string[] = (await t.admin('records/create', { object: 'Account', count: 10, fields: { Industry: 'energy' } })).ids;
    const retail: string[] = (await t.admin('records/create', { object: 'Account', count: 10, fields: { Industry: 'Retail' } })).ids;
    const contacts = await t.admin('records/create', { object: 'Contact', count: 3 });
    expect(contacts.ids).toHaveLength(3);
    // A Retail account that turns Energy matches from that change on.
    const r = await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${retail[0]}`, {
      token: await t.token(),
      body: { Industry: 'Energy' },
    });
    expect(r.status).toBe(204);
    for (const out of [viaPubsub, viaCometd]) await until(() => readSink(out).length >= 11, 20_000, `11 events in ${out}`);
    await b.bridge.stop();
    for (const out of [viaPubsub, viaCometd]) {
      const got = readSink(out);
      expect(got).toHaveLength(11);
      expect(got.filter((e) => e.changeHeader.changeType === 'CREATE').map((e) => e.changeHeader.recordIds[0])).toEqual(energy);
      expect(got.at(-1)?.changeHeader).toMatchObject({ changeType: 'UPDATE', recordIds: [retail[0]] });
      for (const e of got) expect(e).toMatchObject({ channel: CHANNEL, changeHeader: { entity: 'Account' } });
    }
  });

  it('a changed filter is updated; a member the config does not name is drift, deleted only with --prune', async () => {
    const dir = tempDir();
    await cli(['channels', 'apply', '-c', configFile(dir, "Industry = 'Energy'")]);
    const cfg = configFile(dir, "Industry IN ('Energy', 'Utilities') AND ChangeEventHeader.changeType != 'DELETE'");
    const updated = await cli(['channels', 'apply', '-c', cfg]);
    expect(updated.text).toContain(
      "Energy__chn AccountChangeEvent updated (filter: Industry = 'Energy' -> Industry IN ('Energy', 'Utilities') AND ChangeEventHeader.changeType != 'DELETE')",
    );
    // Someone adds a member in Salesforce.
    const token = await t.token();
    const added = await t.http('POST', '/services/data/v63.0/tooling/sobjects/PlatformEventChannelMember', {
      token,
      body: { FullName: 'Energy_chn_ContactChangeEvent', Metadata: { eventChannel: 'Energy__chn', selectedEntity: 'ContactChangeEvent' } },
    });
    expect(added.status).toBe(201);
    const drift = await cli(['channels', 'apply', '-c', cfg]);
    expect(drift.text).toContain('Energy__chn ContactChangeEvent drift (in the org, not in the config (left alone; --prune deletes it))');
    expect(drift.code).toBe(1);
    const pruned = await cli(['channels', 'apply', '-c', cfg, '--prune']);
    expect(pruned.text).toContain('Energy__chn ContactChangeEvent deleted');
    expect(pruned.code).toBe(0);
    expect((await cli(['channels', 'apply', '-c', cfg])).code).toBe(0);
  });

  it('check refuses a filter Salesforce would refuse, saying where and why', async () => {
    const dir = tempDir();
    const bad = [
      ['Industry = Energy', /text values go in single quotes/],
      ["Industry = 'Energy' AND", /expected a field name at the end/],
      ["ChangeEventHeader.changedFields = 'Industry'", /array field of the change event header/],
      ["NOT Industry = 'Energy'", /NOT is not an operator of channel filters/],
      ['OpenTime__c >= 14:30:00', /needs the UTC designator Z/],
      ['Name LIKE 5', /a text value in single quotes after LIKE/],
    ] as const;
    for (const [filter, why] of bad) {
      const err = captureStdout();
      const stderr: string[] = [];
      const orig = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((c: string) => {
        stderr.push(String(c));
        return true;
      }) as typeof process.stderr.write;
      let code: number;
      try {
        code = await main(['check', '-c', configFile(dir, filter)]);
      } finally {
        process.stderr.write = orig;
        err.restore();
      }
      expect(code, filter).toBe(2);
      expect(stderr.join(''), filter).toMatch(/orgs\.emu\.channels\[0\]\.members\[0\]\.filter: /);
      expect(stderr.join(''), filter).toMatch(why);
    }
  });
});
