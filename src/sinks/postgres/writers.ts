/**
 * What each mode writes for a batch, as steps run in one transaction (postgres-sink.ts). The
 * tables are made ready (created, widened) before the transaction; values are checked against
 * their columns here, and an event whose value does not fit is refused with the column and why.
 */
import type pg from 'pg';
import { type Envelope, envelopeJson, payloadJson } from '../../envelope.js';
import type { EventOutcome } from '../types.js';
import { columnName, inferType, type PgType, toPg } from './columns.js';
import type { PostgresSinkConfig } from './config.js';
import { type EventPlan, fold, type NetRow, planEvent, type RowChange } from './mirror-plan.js';
import { applyMirror } from './mirror-sql.js';
import type { Tables } from './tables.js';

export type Step = (client: pg.PoolClient) => Promise<void>;

export interface WriteInput {
  batch: readonly Envelope[];
  /** One per event, delivered until a writer says otherwise. */
  outcomes: EventOutcome[];
  tables: Tables;
  config: PostgresSinkConfig;
  route: string;
  table: (v: { object: string; channel: string }) => string;
  /** Events acknowledged without a row, and why (logged). */
  note: (n: { events: number; why: string }) => void;
  wrote: (rows: number) => void;
}

type Planned = Extract<EventPlan, { rows: unknown }>;

const objectOf = (e: Envelope) => e.changeHeader?.entity ?? e.channel.split('/').pop() ?? 'events';

/** Columns the mirror never takes from a payload: the key and Salesforce's delete flag have their own. */
const OWN = new Set(['id', 'isdeleted']);

async function mirror(w: WriteInput): Promise<Step[]> {
  const byTable = new Map<
    string,
    {
      entity: string;
      nets: Map<string, NetRow>;
      events: Array<{ i: number; plan: Extract<ReturnType<typeof planEvent>, { rows: unknown }> }>;
    }
  >();
  const skipped = new Map<string, number>();
  w.batch.forEach((e, i) => {
    const plan = planEvent(e);
    if ('reject' in plan) w.outcomes[i] = { status: 'rejected', error: plan.reject };
    else if ('skip' in plan) skipped.set(plan.skip, (skipped.get(plan.skip) ?? 0) + 1);
    else {
      const table = w.table({ object: plan.entity, channel: e.channel });
      const t = byTable.get(table) ?? {
        entity: plan.entity,
        nets: new Map<string, NetRow>(),
        events: [] as Array<{ i: number; plan: Planned }>,
      };
      t.events.push({ i, plan });
      byTable.set(table, t);
    }
  });
  for (const [why, events] of skipped) w.note({ events, why });
  const steps: Step[] = [];
  for (const [table, t] of byTable) {
    await w.tables.ensure(table, 'mirror');
    const described = await w.tables.fieldTypes(t.entity);
    const wanted = new Map<string, PgType>();
    for (const { plan } of t.events)
      for (const change of plan.rows.values())
        if (change.op === 'upsert')
          for (const [f, v] of change.fields) {
            const c = columnName(f);
            if (OWN.has(c) || wanted.has(c) || w.tables.has(table, c)) continue;
            if (v !== null || described.has(c)) wanted.set(c, described.get(c) ?? inferType(v));
          }
    await w.tables.widen(table, t.entity, wanted);
    for (const { i, plan } of t.events) {
      const converted = convert(
        plan.rows,
        (c) => w.tables.typeOf(table, c),
        (c) => w.tables.has(table, c),
      );
      if (typeof converted === 'string') {
        w.outcomes[i] = { status: 'rejected', error: `${w.config.schema}.${table}: ${converted}` };
        continue;
      }
      for (const [id, change] of converted) t.nets.set(id, fold(t.nets.get(id), id, plan.version, change));
    }
    const rows = [...t.nets.values()];
    steps.push(async (client) => {
      await applyMirror(client, { name: w.tables.name(table), rows, deletes: w.config.deletes, typeOf: (c) => w.tables.typeOf(table, c) });
      w.wrote(rows.length);
    });
  }
  return steps;
}

/** Row changes with column names and values for their columns, or why a value does not fit. */
function convert(
  rows: Map<string, RowChange>,
  typeOf: (c: string) => PgType,
  exists: (c: string) => boolean,
): Map<string, RowChange> | string {
  const out = new Map<string, RowChange>();
  for (const [id, change] of rows) {
    if (change.op !== 'upsert') {
      out.set(id, change);
      continue;
    }
    const fields = new Map<string, unknown>();
    for (const [f, v] of change.fields) {
      const c = columnName(f);
      // No column: the field has only ever been null here (and the describe does not know it); nothing to set.
      if (OWN.has(c) || !exists(c)) continue;
      const type = typeOf(c);
      try {
        fields.set(c, toPg(v, type));
      } catch (err) {
        return `column ${c} (${type}, field ${f}): ${(err as Error).message}; the value is not written (nothing is truncated)`;
      }
    }
    out.set(id, { ...change, fields });
  }
  return out;
}

async function history(w: WriteInput): Promise<Step[]> {
  const byTable = new Map<string, Envelope[]>();
  let skipped = 0;
  w.batch.forEach((e, i) => {
    if (e.kind === 'snapshot' || e.kind === 'replay-gap') skipped++;
    else if (!e.changeHeader)
      w.outcomes[i] = { status: 'rejected', error: `history mode records change events, not ${e.kind} events (use mode: events)` };
    else {
      const table = w.table({ object: objectOf(e), channel: e.channel });
      byTable.set(table, [...(byTable.get(table) ?? []), e]);
    }
  });
  if (skipped > 0) w.note({ events: skipped, why: 'exported records and replay-gap markers are not changes: not in the history table' });
  const steps: Step[] = [];
  for (const [table, events] of byTable) {
    await w.tables.ensure(table, 'history');
    const name = w.tables.name(table);
    steps.push(async (client) => {
      const h = (e: Envelope) => e.changeHeader as NonNullable<Envelope['changeHeader']>;
      const r = await client.query(
        `INSERT INTO ${name} (event_id, record_ids, change_type, changed_fields, nulled_fields, commit_timestamp, commit_number, replay_id, org, channel, received_at, payload)
         SELECT u.event_id, string_to_array(u.ids, ','), u.change_type, string_to_array(u.changed, ','), string_to_array(u.nulled, ','),
                to_timestamp(u.ts / 1000.0), u.cn, u.replay_id, u.org, u.channel, u.received_at, u.payload::jsonb
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::numeric[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[])
           AS u(event_id, ids, change_type, changed, nulled, ts, cn, replay_id, org, channel, received_at, payload)
         ON CONFLICT (event_id) DO NOTHING`,
        [
          events.map((e) => e.eventId),
          events.map((e) => h(e).recordIds.join(',')),
          events.map((e) => h(e).changeType),
          events.map((e) => h(e).changedFields.join(',')),
          events.map((e) => h(e).nulledFields.join(',')),
          events.map((e) => h(e).commitTimestamp),
          events.map((e) => h(e).commitNumber ?? null),
          events.map((e) => e.replayId),
          events.map((e) => e.org),
          events.map((e) => e.channel),
          events.map((e) => e.receivedAt),
          events.map((e) => payloadJson(e)),
        ],
      );
      w.wrote(r.rowCount ?? 0);
    });
  }
  return steps;
}

async function events(w: WriteInput): Promise<Step[]> {
  const byTable = new Map<string, Envelope[]>();
  for (const e of w.batch) {
    const table = w.table({ object: objectOf(e), channel: e.channel });
    byTable.set(table, [...(byTable.get(table) ?? []), e]);
  }
  const steps: Step[] = [];
  for (const [table, list] of byTable) {
    await w.tables.ensure(table, 'events');
    const name = w.tables.name(table);
    steps.push(async (client) => {
      const r = await client.query(
        `INSERT INTO ${name} (event_id, org, channel, replay_id, kind, event_time, received_at, envelope)
         SELECT u.event_id, u.org, u.channel, u.replay_id, u.kind, u.event_time, u.received_at, u.envelope::jsonb
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::text[])
           AS u(event_id, org, channel, replay_id, kind, event_time, received_at, envelope)
         ON CONFLICT (event_id) DO NOTHING`,
        [
          list.map((e) => e.eventId),
          list.map((e) => e.org),
          list.map((e) => e.channel),
          list.map((e) => e.replayId),
          list.map((e) => e.kind),
          list.map((e) => e.eventTime),
          list.map((e) => e.receivedAt),
          list.map((e) => envelopeJson(e)),
        ],
      );
      w.wrote(r.rowCount ?? 0);
    });
  }
  return steps;
}

export const WRITERS: Record<PostgresSinkConfig['mode'], (w: WriteInput) => Promise<Step[]>> = { mirror, history, events };
