/** A Salesforce sink's mapping (src/sinks/mapping.ts): the direct reader gives JSONata's own answers. */
import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/envelope.js';
import { FieldMapping } from '../../src/sinks/mapping.js';

function env(payload: unknown, extra: Record<string, unknown> = {}): Envelope {
  return {
    v: 1,
    org: 'o',
    channel: 'c',
    replayId: '1',
    eventId: 'e',
    schemaId: null,
    eventTime: null,
    receivedAt: '',
    kind: 'generic',
    payload,
    ...extra,
  };
}

const CASES: Array<[string, Envelope]> = [
  ['{ "A": payload.a, "B": payload.b.c, "L": "lit", "N": 5 }', env({ a: 1, b: { c: 'x' } })],
  ['{ "A": payload.a, "B": payload.b.c }', env({ a: null, b: null })],
  ['{ "A": payload.missing, "B": payload.a.deeper }', env({ a: 'string' })],
  ['{ "A": payload.list.x }', env({ list: [{ x: 1 }, { x: 2 }] })],
  ['{ "A": payload.list }', env({ list: [1] })],
  ['{ "A": payload.obj }', env({ obj: { k: 1 } })],
  ['{ "P": kafka.partition, "K": kafka.key }', env({}, { kafka: { topic: 't', partition: 2, offset: '5', key: 'k', headers: {} } })],
  ['{ "A": payload.a & "!" }', env({ a: 'x' })],
];

describe('sink mappings', () => {
  for (const [text, e] of CASES) {
    it(`${text} gives what JSONata gives`, async () => {
      const want = await jsonata(text).evaluate(e);
      const got = await new FieldMapping(text).map(e);
      // Compared as JSON: JSONata marks its result sequences with an extra property.
      expect(JSON.parse(JSON.stringify(got))).toEqual({ fields: JSON.parse(JSON.stringify(want)) });
    });
  }

  it('without a mapping, the payload; a mapping that gives no object is an error naming what it gave', async () => {
    expect(await new FieldMapping(undefined).map(env({ a: 1 }))).toEqual({ fields: { a: 1 } });
    expect(await new FieldMapping('payload.a').map(env({ a: 1 }))).toEqual({ error: 'mapping gave number, not an object of fields' });
    expect(await new FieldMapping('payload.nothing').map(env({ a: 1 }))).toEqual({
      error: 'mapping gave nothing, not an object of fields',
    });
  });
});
