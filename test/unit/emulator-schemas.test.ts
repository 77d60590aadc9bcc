import { describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator/emulator.js';
import { BUILTIN_OBJECTS } from '../../src/emulator/objects.js';
import { cdcSchema, decodeFieldBitmap, encodeFieldBitmap, platformEventSchema } from '../../src/emulator/schemas.js';
import { matches, parseSoql } from '../../src/emulator/soql.js';
import { until } from '../helpers/fakes.js';

const account = BUILTIN_OBJECTS.find((o) => o.name === 'Account')!;

describe('emulator schemas', () => {
  it('builds a ~40-field Account CDC schema with the header first and stable ids', () => {
    const s = cdcSchema(account);
    expect(s.fieldNames[0]).toBe('ChangeEventHeader');
    expect(s.fieldNames.length).toBeGreaterThanOrEqual(41);
    expect(cdcSchema(account).id).toBe(s.id);
    expect(cdcSchema({ ...account, fields: [...account.fields, { name: 'X__c', type: 'string' }] }).id).not.toBe(s.id);
    expect(JSON.parse(s.json).name).toBe('AccountChangeEvent');
  });

  it('encodes field names as Salesforce bitmaps, compound fields included, and back', () => {
    const s = cdcSchema(account);
    const names = ['Name', 'Phone', 'BillingAddress.City', 'BillingAddress.PostalCode', 'ShippingAddress.Street'];
    const bitmaps = encodeFieldBitmap(s, names);
    const nameIdx = s.fieldNames.indexOf('Name');
    const phoneIdx = s.fieldNames.indexOf('Phone');
    const top = ((1n << BigInt(nameIdx)) | (1n << BigInt(phoneIdx))).toString(16).toUpperCase();
    // Whole bytes, as Salesforce writes them (an odd number of digits gets a leading 0).
    expect(bitmaps[0]).toBe(`0x${top.length % 2 ? `0${top}` : top}`);
    expect(bitmaps[1]).toBe(`${s.fieldNames.indexOf('BillingAddress')}-0x0A`); // City (1), PostalCode (3)
    expect(bitmaps[2]).toBe(`${s.fieldNames.indexOf('ShippingAddress')}-0x01`);
    expect(decodeFieldBitmap(s, bitmaps).sort()).toEqual([...names].sort());
    expect(encodeFieldBitmap(s, [])).toEqual([]);
  });

  it('gives platform events CreatedDate, CreatedById and EventUuid', () => {
    const s = platformEventSchema({ name: 'Thing__e', fields: [{ name: 'Size__c', type: 'int' }] });
    expect(JSON.parse(s.json).fields.map((f: { name: string }) => f.name)).toEqual(['CreatedDate', 'CreatedById', 'EventUuid', 'Size__c']);
  });

  it('parses and evaluates the SOQL subset', () => {
    const q = parseSoql("SELECT Id, Name FROM Account WHERE (Industry = 'Tech' OR AnnualRevenue > 1000) AND NOT Name LIKE 'Test%' LIMIT 5");
    expect(q).toMatchObject({ fields: ['Id', 'Name'], object: 'Account', limit: 5 });
    const rec: Record<string, unknown> = { Industry: 'Retail', AnnualRevenue: 5000, Name: 'Acme' };
    expect(matches(q.where, (f) => rec[f])).toBe(true);
    rec.Name = 'Test Co';
    expect(matches(q.where, (f) => rec[f])).toBe(false);
    expect(() => parseSoql('SELECT Id')).toThrow(/expected FROM/);
  });

  it('runs custom objects and platform events from config, and the load generator', async () => {
    const emu = await Emulator.start({
      config: {
        plaintext: true,
        objects: [{ name: 'Invoice__c', keyPrefix: 'a01', fields: [{ name: 'Total__c', type: 'double' }] }],
        platformEvents: [{ name: 'Ping__e', fields: [{ name: 'Note__c', type: 'string' }] }],
        channels: [{ name: 'Billing__chn', entities: ['Invoice__c'] }],
      },
      generate: 'cdc:Invoice__c:200/s,platform:Ping__e:100/s',
    });
    try {
      expect(emu.org.resolveChannel('/data/Invoice__ChangeEvent')?.cls).toBe('cdc');
      expect(emu.org.resolveChannel('/data/Billing__chn')?.cls).toBe('cdc');
      expect(emu.org.resolveChannel('/event/Ping__e')?.cls).toBe('platform');
      await until(() => emu.bus.ledger.length >= 60, 5000, 'generated events');
      const kinds = new Set(emu.bus.ledger.map((e) => e.channel));
      expect(kinds).toEqual(new Set(['/data/Invoice__ChangeEvent', '/event/Ping__e']));
      expect(emu.bus.read('/data/Billing__chn', 'cdc', 0, 1000).length).toBeGreaterThan(0);
    } finally {
      await emu.stop();
    }
  });
});
