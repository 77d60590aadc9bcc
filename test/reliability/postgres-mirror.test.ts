/**
 * Issue 30's acceptance: a PostgreSQL mirror of 5,000 Accounts (initial snapshot, gap enrichment,
 * exactly-once) under random SIGKILLs while records are created, updated (fields set to null too),
 * deleted and undeleted, and a field is added. At the end every row equals the emulator's record,
 * field by field (REST query against psql), deleted records are absent, the stored position is the
 * last change, a second run changes nothing, and the history table holds one row per change event
 * of the emulator's ledger.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, emulatorOrg } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { MIRROR_FIELDS, normalise, psqlRows, restRows } from '../helpers/mirror.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';
import { BridgeProcess, PROFILE, record, waitFor } from './harness.js';

const postgres = service('postgres');
const CHANNEL = '/data/AccountChangeEvent';
const RECORDS = PROFILE === 'long' ? 20_000 : 5_000;
const KILLS = PROFILE === 'long' ? 20 : 8;

describe.skipIf(!postgres.url)(`reliability: PostgreSQL mirror under SIGKILL ${postgres.reason ?? ''}`, () => {
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

  it(`${RECORDS} Accounts, ${KILLS} SIGKILLs during the snapshot and the changes: the table equals the object`, async () => {
    const schema = `mirror_${randomUUID().slice(0, 8)}`;
    const ns = `rel-${randomUUID().slice(0, 8)}`;
    const dir = tempDir();
    const alive: string[] = [];
    for (let i = 0; i < RECORDS; i += 1000)
      alive.push(
        ...(
          await t.admin('records/create', {
            object: 'Account',
            count: Math.min(1000, RECORDS - i),
            fields: { Industry: 'Initial', Phone: '555', AnnualRevenue: 10.5 },
          })
        ).ids,
      );
    const cfg = join(dir, 'bridge.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        log: { level: 'info', format: 'json' },
        orgs: { emu: emulatorOrg(t) },
        replayStore: { type: 'postgres', url, namespace: ns, tablePrefix: 'sfbridge_rel' },
        deadLetter: { type: 'file', dir: join(dir, 'dlq') },
        pipeline: { maxInFlight: 500, maxBatchEvents: 500, commitIntervalMs: 100, commitMaxEvents: 500 },
        routes: [
          {
            name: 'mirror',
            source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'snapshot' },
            gaps: 'enrich',
            sinks: [{ type: 'postgres', url, schema, exactlyOnce: true }],
          },
          {
            name: 'history',
            source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'earliest' },
            sinks: [{ type: 'postgres', url, schema, mode: 'history' }],
          },
        ],
      }),
    );
    const deleted: string[] = [];
    const changes = mutate(t, alive, deleted);
    const bridge = new BridgeProcess(cfg);
    for (let k = 0; k < KILLS; k++) {
      await bridge.start();
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 900));
      expect((await bridge.kill('SIGKILL')).signal).toBe('SIGKILL');
    }
    const made = await changes.stop();
    await bridge.start();
    const fields = [...MIRROR_FIELDS, 'Tier__c'];
    const differences = async () => {
      const want = normalise(await restRows(t, 'Account', fields));
      const got = await tableRows(url, `${schema}.account`, fields);
      let diff = Math.abs(want.size - got.size);
      for (const [id, row] of want) if (JSON.stringify(got.get(id)) !== JSON.stringify(row)) diff++;
      return diff;
    };
    const started = Date.now();
    await waitFor(async () => -(await differences()), 0, 120_000, 'the mirror converging (negated differences)');
    // The table can equal the object before the route has caught up (a snapshot taken after the
    // changes already holds them); the run is done when the mirror's position is the last change.
    const lastChange = b64((await t.ledger(CHANNEL)).at(-1).replayId);
    const position = async () =>
      (await db.query('SELECT replay_id FROM sfbridge_rel_positions WHERE namespace = $1 AND key = $2', [ns, 'mirror'])).rows[0]?.replay_id;
    await waitFor(async () => ((await position()) === lastChange ? 1 : 0), 1, 120_000, 'the mirror position reaching the last change');
    const convergedMs = Date.now() - started;
    const fin = await bridge.kill('SIGTERM');
    expect(fin.code, fin.stderr.slice(-1500)).toBe(0);

    // Field by field, deleted records absent.
    const want = normalise(await restRows(t, 'Account', fields));
    const got = normalise(psqlRows(url, `${schema}.account`, fields));
    expect(got.size).toBe(want.size);
    for (const [id, row] of want) expect(got.get(id), id).toEqual(row);
    for (const id of deleted) expect(got.has(id)).toBe(false);
    // The stored position is the last change applied.
    const ledger = await t.ledger(CHANNEL);
    const stored = await db.query('SELECT replay_id FROM sfbridge_rel_positions WHERE namespace = $1 AND key = $2', [ns, 'mirror']);
    expect(stored.rows[0]?.replay_id).toBe(b64(ledger.at(-1).replayId));
    // One history row per change event of the ledger: no more, no fewer.
    const history = await db.query<{ n: string; d: string }>(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM ${schema}.account_history`,
    );
    if (Number(history.rows[0]?.n) !== ledger.length) {
      const ids = new Set(ledger.map((l: { eventId: string }) => l.eventId));
      const rows = (await db.query(`SELECT event_id, change_type, record_ids, replay_id FROM ${schema}.account_history`)).rows;
      console.log(rows.filter((r) => !ids.has(r.event_id)).slice(0, 5), ledger.slice(0, 2));
    }
    expect(Number(history.rows[0]?.n)).toBe(ledger.length);
    // A second run changes nothing.
    const digest = async () =>
      (await db.query<{ h: string }>(`SELECT md5(string_agg(t::text, '|' ORDER BY id)) AS h FROM ${schema}.account t`)).rows[0]?.h;
    const before = await digest();
    await bridge.start();
    // Both routes subscribed again, from their stored positions (nothing new to deliver).
    await until(() => (bridge.stderr.match(/"msg":"subscribed"/g) ?? []).length >= 2, 30_000, 'both routes subscribed');
    expect((await bridge.kill('SIGTERM')).code).toBe(0);
    expect(await digest()).toBe(before);
    record({
      scenario: `PostgreSQL mirror, SIGKILL x${KILLS}`,
      path: 'pubsub',
      events: ledger.length,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      recoveryMs: convergedMs,
      notes: `${RECORDS} records snapshotted, ${made} changes during the kills; table equals the object`,
    });
    await db.query(`DROP SCHEMA ${schema} CASCADE`);
  }, 600_000);
});

/** The table's rows (pg, for polling; the final comparison reads them with psql). */
async function tableRows(url: string, table: string, fields: string[]): Promise<Map<string, Record<string, string>>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const cols = fields.map((f) => `"${f.toLowerCase()}"::text AS "${f}"`).join(', ');
    const r = await c.query(`SELECT id, ${cols} FROM ${table}`).catch(() => ({ rows: [] as Array<Record<string, string | null>> }));
    return normalise(new Map(r.rows.map((row) => [String(row.id), Object.fromEntries(fields.map((f) => [f, row[f] ?? '']))])));
  } finally {
    await c.end();
  }
}

/** Changes as an app makes them while the bridge is killed and restarted; `stop()` says how many were made. */
function mutate(t: TestEmulator, alive: string[], deleted: string[]): { stop(): Promise<number> } {
  let running = true;
  let made = 0;
  const pick = (a: string[]) => a[Math.floor(Math.random() * a.length)] as string;
  const loop = (async () => {
    let token = await t.token();
    let tier = false;
    while (running) {
      const r = Math.random();
      if (made === 150 && !tier) {
        await t.admin('schema/change', { target: 'Account', field: { name: 'Tier__c', type: 'string' } });
        tier = true;
      }
      const api = (method: string, path: string, body?: object) => t.http(method, `/services/data/v63.0${path}`, { token, body });
      let res: { status: number };
      if (r < 0.15) {
        const ids: string[] = (await t.admin('records/create', { object: 'Account', count: 3, fields: { Industry: 'New' } })).ids;
        alive.push(...ids);
        res = { status: 204 };
      } else if (r < 0.7) {
        const body: Record<string, unknown> = {
          Industry: `I${made}`,
          Phone: Math.random() < 0.3 ? null : `${made}`,
          AnnualRevenue: made + 0.25,
        };
        if (tier) body.Tier__c = Math.random() < 0.5 ? 'Gold' : null;
        res = await api('PATCH', `/sobjects/Account/${pick(alive)}`, body);
      } else if (r < 0.85) {
        const id = alive.splice(Math.floor(Math.random() * alive.length), 1)[0] as string;
        res = await api('DELETE', `/sobjects/Account/${id}`);
        deleted.push(id);
      } else if (deleted.length > 0) {
        const id = deleted.splice(Math.floor(Math.random() * deleted.length), 1)[0] as string;
        await t.admin('records/undelete', { ids: [id] });
        alive.push(id);
        res = { status: 204 };
      } else continue;
      if (res.status === 401) token = await t.token();
      made++;
      if (made % 100 === 0) await t.admin('events/gap', { object: 'Account', changeType: 'GAP_UPDATE', recordIds: [pick(alive)] });
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return made;
    },
  };
}
