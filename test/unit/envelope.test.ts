import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { replayGapEnvelope } from '../../src/envelope.js';
import { event } from '../helpers/fakes.js';

const schema = JSON.parse(readFileSync(new URL('../../docs/envelope.schema.json', import.meta.url), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const validate = ajv.compile(schema);

describe('envelope JSON Schema (docs/envelope.schema.json)', () => {
  it('accepts the envelopes the bridge builds', () => {
    for (const e of [
      event(1),
      replayGapEnvelope({
        org: 'o',
        channel: '/data/X',
        replayId: 'AQ==',
        storedReplayId: 'AA==',
        storedEventTime: null,
        policy: 'earliest',
        reason: 'expired',
      }),
    ]) {
      expect(validate(JSON.parse(JSON.stringify(e))), JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('requires the CDC header on change events and rejects unknown kinds', () => {
    expect(validate({ ...event(1), kind: 'cdc' })).toBe(false);
    expect(validate({ ...event(1), kind: 'other' })).toBe(false);
    const cdc = {
      ...event(1),
      kind: 'cdc',
      changeHeader: {
        entity: 'Account',
        recordIds: ['001000000000001AAA'],
        changeType: 'UPDATE',
        changeOrigin: '',
        transactionKey: 't',
        sequenceNumber: 1,
        commitTimestamp: 1700000000000,
        commitNumber: '12345678901234567890',
        commitUser: '005000000000001AAA',
        changedFields: ['Name', 'BillingAddress.City'],
        nulledFields: [],
        diffFields: [],
      },
    };
    expect(validate(cdc), JSON.stringify(validate.errors)).toBe(true);
  });
});
