/**
 * The PostgreSQL sink (issue 30) against the real PostgreSQL on 127.0.0.1:5432 and the emulator:
 * a mirror that equals the object field by field after a snapshot and every kind of change, with
 * the position in the same transaction; history and events modes; a value that does not fit.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import { MIRROR_META } from '../../src/sinks/postgres/tables.js';
import { b64, makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until, untilAsync } from '../helpers/fakes.js';
import { MIRROR_FIELDS, normalise, psqlRows, restRows } from '../helpers/mirror.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';

const postgres = service('postgres');
const CHANNEL = '/data/AccountChangeEvent';

describe.skipIf(!postgres.url)(`postgres sink ${postgres.reason ?? ''}`, () => {
  const url = postgres.url as string;
  let t: TestEmulator;
  let db: pg.Pool;
  beforeAll(async () => {
    t = await startEmulator();
    db = new pg.Pool({ connectionString: url, max: 2 });
  });
  afterAll(async () => {
    await db?.end();
    await t?.stop();
  });

  const schemaName = () => `mirror_${randomUUID().slice(0, 8)}`;
  const count = async (sql: string) => Number((await db.query<{ n: string }>(sql)).rows[0]?.n);

  it('mirror: snapshot, creates, updates (nulls too), deletes, undeletes and a new field; the table equals the object; the position is in the same transaction', async () => {
    const schema = schemaName();
    const before: string[] = (
      await t.admin('records/create', { object: 'Account', count: 300, fields: { Industry: 'Snap', Phone: '1', AnnualRevenue: 1000.5 } })
    ).ids;
    const dir = tempDir();
    const ns = `ns-${randomUUID().slice(0, 8)}`;
    const b = makeBridge(
      t,
      dir,
      [
        {
          name: 'mirror',
          source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'snapshot' },
          gaps: 'enrich',
          sinks: [{ type: 'postgres', url, schema, exactlyOnce: true }],
        },
      ],
      { replayStore: { type: 'postgres', url, namespace: ns, tablePrefix: 'sfbridge_mirror_test' } },
    );
    await b.bridge.start();
    await untilAsync(
      async () => (await count(`SELECT count(*) AS n FROM ${schema}.account`).catch(() => 0)) >= 300,
      30_000,
      'the snapshot in the table',
    );
    await t.subscribed(CHANNEL);
    const token = await t.token();
    const patch = (id: string, body: object) => t.http('PATCH', `/services/data/v63.0/sobjects/Account/${id}`, { token, body });
    const fresh: string[] = (
      await t.admin('records/create', { object: 'Account', count: 20, fields: { Industry: 'Live', NumberOfEmployees: 7 } })
    ).ids;
    for (const id of before.slice(0, 20))
      expect((await patch(id, { Industry: 'Changed', Phone: null, BillingCity: 'Paris' })).status).toBe(204);
    for (const id of before.slice(20, 30))
      expect((await t.http('DELETE', `/services/data/v63.0/sobjects/Account/${id}`, { token })).status).toBe(204);
    await t.admin('records/undelete', { ids: before.slice(20, 23) });
    await t.admin('schema/change', { target: 'Account', field: { name: 'Tier__c', type: 'string' } });
    for (const id of fresh.slice(0, 5)) expect((await patch(id, { Tier__c: 'Gold' })).status).toBe(204);
    await t.admin('events/gap', { object: 'Account', changeType: 'GAP_UPDATE', recordIds: [before[40]] });
    await patch(before[40] as string, { Industry: 'AfterGap' });

    // The last change is in the table, and with it (same transaction) its position.
    await untilAsync(
      async () => (await count(`SELECT count(*) AS n FROM ${schema}.account WHERE industry = 'AfterGap'`)) === 1,
      30_000,
      'the last change',
    );
    const st = b.bridge.status().routes[0];
    await b.bridge.stop();
    expect(st?.sinks[0]?.eventsDeadLettered).toBe(0);

    const fields = [...MIRROR_FIELDS, 'Tier__c'];
    const want = normalise(await restRows(t, 'Account', fields));
    const got = normalise(psqlRows(url, `${schema}.account`, fields));
    const mine = new Map([...want].filter(([id]) => got.has(id) || before.includes(id) || fresh.includes(id)));
    expect(got.size).toBe(300 + 20 - 7);
    for (const [id, row] of got) expect(row, id).toEqual(mine.get(id));
    for (const id of before.slice(23, 30)) expect(got.has(id)).toBe(false);
    // The stored position is the last change applied (same transaction as its rows).
    const stored = (
      await db.query('SELECT replay_id FROM sfbridge_mirror_test_positions WHERE namespace = $1 AND key = $2', [ns, 'mirror'])
    ).rows[0]?.replay_id;
    const lastChange = (await t.ledger(CHANNEL)).at(-1);
    expect(stored).toBe(b64(lastChange.replayId));
    await db.query(`DROP SCHEMA ${schema} CASCADE`);
  });

  it('deletes: soft flags the row (is_deleted, deleted_at) and an undelete clears it', async () => {
    const schema = schemaName();
    const b = makeBridge(t, tempDir(), [
      {
        name: 'soft',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinks: [{ type: 'postgres', url, schema, deletes: 'soft' }],
      },
    ]);
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    const ids: string[] = (await t.admin('records/create', { object: 'Account', count: 3, fields: { Industry: 'Soft' } })).ids;
    const token = await t.token();
    for (const id of ids.slice(0, 2))
      expect((await t.http('DELETE', `/services/data/v63.0/sobjects/Account/${id}`, { token })).status).toBe(204);
    await t.admin('records/undelete', { ids: [ids[1]] });
    await until(() => (b.bridge.status().routes[0]?.eventsCommitted ?? 0) >= 6, 20_000, '6 events');
    await b.bridge.stop();
    const rows = (await db.query(`SELECT id, is_deleted, deleted_at, industry FROM ${schema}.account ORDER BY id`)).rows;
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(rows).toHaveLength(3);
    expect(byId.get(ids[0])).toMatchObject({ is_deleted: true, industry: 'Soft' });
    expect(byId.get(ids[0])?.deleted_at).toBeInstanceOf(Date);
    expect(byId.get(ids[1])).toMatchObject({ is_deleted: false, deleted_at: null, industry: 'Soft' });
    expect(byId.get(ids[2])).toMatchObject({ is_deleted: false });
    await db.query(`DROP SCHEMA ${schema} CASCADE`);
  });

  it('history and events modes keep one row per change event; a value that does not fit its column is dead-lettered with the column', async () => {
    const schema = schemaName();
    // A table someone made with Industry as a number: a text industry does not fit.
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(`CREATE TABLE ${schema}.account (${MIRROR_META.map(([c, ty]) => `"${c}" ${ty}`).join(', ')}, industry numeric)`);
    const dir = tempDir();
    const b = makeBridge(t, dir, [
      {
        name: 'history',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinkOutage: { mode: 'dead-letter' },
        sinks: [
          { type: 'postgres', url, schema, mode: 'history' },
          { type: 'postgres', url, schema, mode: 'events' },
          { type: 'postgres', url, schema, mode: 'mirror' },
        ],
      },
    ]);
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    const ids: string[] = (await t.admin('records/create', { object: 'Account', count: 29, fields: { NumberOfEmployees: 10 } })).ids;
    const energy: string = (await t.admin('records/create', { object: 'Account', count: 1, fields: { Industry: 'Energy' } })).ids[0];
    const token = await t.token();
    for (const id of ids.slice(0, 10))
      await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${id}`, { token, body: { NumberOfEmployees: 11 } });
    await until(() => (b.bridge.status().routes[0]?.eventsCommitted ?? 0) >= 40, 20_000, '40 events');
    const st = b.bridge.status().routes[0];
    await b.bridge.stop();
    expect(await count(`SELECT count(*) AS n FROM ${schema}.account_history`)).toBe(40);
    expect(await count(`SELECT count(*) AS n FROM ${schema}.events`)).toBe(40);
    expect(
      await count(
        `SELECT count(*) AS n FROM ${schema}.account_history WHERE change_type = 'UPDATE' AND changed_fields @> ARRAY['NumberOfEmployees']`,
      ),
    ).toBe(10);
    expect(await count(`SELECT count(*) AS n FROM ${schema}.account`)).toBe(29);
    expect(await count(`SELECT count(*) AS n FROM ${schema}.account WHERE numberofemployees = 11`)).toBe(10);
    const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dead-letters'), fsync: true }).list();
    expect(dl).toHaveLength(1);
    expect(dl[0]).toMatchObject({ sink: 'postgres#2', envelope: { changeHeader: { recordIds: [energy] } } });
    expect(dl[0]?.error).toMatch(/^\S+\.account: column industry \(numeric, field Industry\): "Energy" is not a number/);
    expect(st?.sinks.map((k) => k.eventsDeadLettered)).toEqual([0, 0, 1]);
    await db.query(`DROP SCHEMA ${schema} CASCADE`);
  });
});
