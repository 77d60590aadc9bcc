/** PushTopics declared in the config, applied through the emulator's REST API. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orgSchema, pushTopicSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { OrgServices } from '../../src/orgs.js';
import { applyPushTopics, soqlString } from '../../src/salesforce/pushtopics.js';
import { emulatorOrg } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';

describe('PushTopics', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('quotes names in SOQL, so a name with a quote or backslash is found again (created once, then unchanged)', async () => {
    expect(soqlString(`O'Brien \\ Co`)).toBe(`'O\\'Brien \\\\ Co'`);
    const orgs = new OrgServices({ emu: orgSchema.parse(emulatorOrg(t)) }, silentLogger());
    const topic = pushTopicSchema.parse({ name: `O'Brien Deals`, query: 'SELECT Id, Name FROM Opportunity' });
    const first = await applyPushTopics(orgs.rest('emu'), [topic], '63.0');
    const second = await applyPushTopics(orgs.rest('emu'), [topic], '63.0');
    orgs.close();
    expect(first[0]?.action).toBe('created');
    expect(second[0]).toMatchObject({ action: 'unchanged', id: first[0]?.id });
  });
});
