/**
 * The Kafka sink's `avro` and `json-schema` formats against a real registry (Apicurio's
 * Confluent-compatible API, scripts/schema-registry.mjs) and a real broker, read back with a
 * maintained registry client (@kafkajs/confluent-schema-registry): the Confluent wire format,
 * payloads typed from Salesforce's schema, one registration per version, a field added in
 * Salesforce mid-stream, markers, a refused version (block and dead-letter routes), a registry
 * that is down for a while.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import { envelopeAvroSchema, payloadRecordOf } from '../../src/sinks/kafka/avro-envelope.js';
import { BlackholeProxy } from '../helpers/blackhole.js';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { consumeAll } from '../helpers/kafka.js';
import { freePort } from '../helpers/net.js';
import { startTinyproxy, tinyproxyUnavailable } from '../helpers/netns.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';

const kafka = service('kafka');
const registry = service('registry');

describe.skipIf(!kafka.url || !registry.url)(`Kafka sink through a schema registry ${kafka.reason ?? registry.reason ?? ''}`, () => {
  let t: TestEmulator;
  const brokers = (kafka.url ?? '').split(',');
  const url = registry.url as string;
  const client = new SchemaRegistry({ host: url });
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  async function versions(subject: string): Promise<number[]> {
    const r = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`);
    return r.status === 200 ? ((await r.json()) as number[]) : [];
  }

  async function decodeAll(topic: string, count: number) {
    const got = await consumeAll(kafka.url as string, topic, count, { raw: true });
    return Promise.all(
      got.map(async (m) => {
        const value = m.value as Buffer;
        return { magic: value[0], id: value.readInt32BE(1), decoded: await client.decode(value), key: m.rawKey, headers: m.headers };
      }),
    );
  }

  function route(topic: string, channel: string, sink: Record<string, unknown>, dir: string, extra: Record<string, unknown> = {}) {
    return {
      name: 'r',
      source: { type: 'pubsub', org: 'emu', topic: channel, initial: 'earliest' },
      sinks: [
        { type: 'kafka', brokers, topic, createTopics: { partitions: 1 }, schemaRegistry: { url }, ...sink },
        { type: 'file', dir: join(dir, 'json') },
      ],
      ...extra,
    };
  }

  it('writes Avro envelopes in the wire format, payloads typed from Salesforce’s schema, registered once', async () => {
    const dir = tempDir();
    const topic = `avro-${randomUUID().slice(0, 8)}`;
    const emitted = await t.admin('events/emit', { spec: 'cdc:Account', count: 200 });
    const want = emitted.lastReplayId - emitted.firstReplayId + 1;
    const { bridge } = makeBridge(
      t,
      dir,
      [route(topic, '/data/AccountChangeEvent', { format: 'avro', keyFormat: 'avro' }, dir)],
      {},
      'warn',
    );
    await bridge.start();
    await until(() => readSink(join(dir, 'json')).length >= want, 30_000, 'every event in the JSON sink');
    await until(() => (bridge.status().routes[0]?.eventsCommitted ?? 0) >= want, 30_000, 'every event committed');
    // Two registrations (value and key), not one per event.
    expect(bridge.status().routes[0]?.sinks[0]?.stats).toMatchObject({ schemaRegistryCalls: 2 });
    await bridge.stop();
    const json = new Map(readSink(join(dir, 'json')).map((e) => [e.eventId, e]));
    const got = await decodeAll(topic, json.size);
    expect(got).toHaveLength(json.size);
    expect(new Set(got.map((g) => g.magic))).toEqual(new Set([0]));
    // One version under the topic's subject, one registry id for every record.
    expect(await versions(`${topic}-value`)).toEqual([1]);
    expect(new Set(got.map((g) => g.id)).size).toBe(1);
    const schema = JSON.parse(((await (await fetch(`${url}/schemas/ids/${got[0]?.id}`)).json()) as { schema: string }).schema);
    const payloadRecord = schema.fields.find((f: { name: string }) => f.name === 'payload').type[1];
    expect(payloadRecord).toMatchObject({ type: 'record', name: 'AccountChangeEvent' });
    expect(payloadRecord.fields.map((f: { name: string }) => f.name)).not.toContain('ChangeEventHeader');
    for (const g of got) {
      const e = json.get(g.decoded.eventId);
      expect(e, g.decoded.eventId).toBeDefined();
      const { payload, changeHeader, ...rest } = g.decoded;
      const { payload: _p, changeHeader: _c, ...base } = e;
      expect(rest).toEqual({ ...base, enriched: null, enrichedAt: null, enrichError: null, deleted: null });
      expect(changeHeader).toEqual({ ...e.changeHeader, commitNumber: e.changeHeader.commitNumber ?? null });
      // Fields the change left out are null; the rest equal the JSON envelope's, compound fields nested.
      expect(payload).toMatchObject(e.payload);
      for (const [k, v] of Object.entries(payload)) if (!(k in e.payload)) expect(v).toBeNull();
      // keyFormat avro: the record id, as an Avro string behind the wire-format header.
      expect(await client.decode(g.key as Buffer)).toBe(e.changeHeader.recordIds[0]);
    }
    expect(await versions(`${topic}-key`)).toEqual([1]);
  });

  it('registers a new version when Salesforce adds a field mid-stream; replay-gap markers are readable too', async () => {
    const dir = tempDir();
    const topic = `evolve-${randomUUID().slice(0, 8)}`;
    await t.admin('events/emit', { spec: 'cdc:Lead', count: 20 });
    const routes = [route(topic, '/data/LeadChangeEvent', { format: 'avro' }, dir)];
    const first = makeBridge(t, dir, routes, {}, 'warn').bridge;
    await first.start();
    await until(() => readSink(join(dir, 'json')).length >= 20, 30_000, 'the first 20');
    await t.admin('schema/change', { target: 'Lead', field: { name: 'Tier__c', type: 'string' } });
    const token = await t.token();
    const made = await t.http('POST', '/services/data/v63.0/sobjects/Lead', {
      token,
      body: { LastName: 'Evolved', Company: 'X', Tier__c: 'Gold' },
    });
    expect(made.status).toBe(201);
    await until(() => readSink(join(dir, 'json')).length >= 21, 30_000, 'the event with the new field');
    await until(() => (first.status().routes[0]?.eventsCommitted ?? 0) >= 21, 30_000, 'committed');
    await first.stop();
    // The stored position becomes invalid while stopped: the next start sends a replay-gap marker.
    await t.admin('replay/invalidate');
    const second = makeBridge(t, dir, routes, {}, 'error').bridge;
    await second.start();
    await until(() => readSink(join(dir, 'json')).some((e) => e.kind === 'replay-gap'), 30_000, 'the marker');
    await second.stop();
    const total = readSink(join(dir, 'json')).length;
    const got = await decodeAll(topic, total);
    expect(got).toHaveLength(total);
    expect(await versions(`${topic}-value`)).toEqual([1, 2]);
    const evolved = got.find((g) => g.decoded.payload?.Name?.LastName === 'Evolved');
    expect(evolved?.decoded.payload.Tier__c).toBe('Gold');
    const older = got.find((g) => g.decoded.kind === 'cdc' && g.id !== evolved?.id);
    expect(older?.decoded.payload).not.toHaveProperty('Tier__c');
    const marker = got.find((g) => g.decoded.kind === 'replay-gap');
    expect(typeof marker?.decoded.payload).toBe('string');
    expect(JSON.parse(marker?.decoded.payload)).toMatchObject({ policy: expect.any(String), reason: expect.any(String) });
    expect(marker?.id).toBe(evolved?.id);
  });

  async function preRegisterIncompatible(subject: string): Promise<void> {
    // The team's own earlier version says Name is an int: Salesforce's string cannot read it (BACKWARD).
    const id = [...t.emu.org.schemasById.entries()].find(([, s]) =>
      (s.type as { name?: string }).name?.endsWith('AccountChangeEvent'),
    )?.[0];
    const sf = JSON.parse(JSON.stringify(t.emu.org.schemasById.get(id as string)?.type.schema()));
    const record = payloadRecordOf(sf);
    record.fields = record.fields.map((f) => (f.name === 'Name' ? { ...f, type: ['null', 'int'] } : f));
    const r = await fetch(`${url}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(envelopeAvroSchema('AccountChangeEvent', record)) }),
    });
    expect(r.status).toBe(200);
  }

  it('stops a block route with one line naming the subject, the field and the registry’s reason when a version is refused', async () => {
    const dir = tempDir();
    const topic = `refused-${randomUUID().slice(0, 8)}`;
    await preRegisterIncompatible(`${topic}-value`);
    await t.admin('events/emit', { spec: 'cdc:Account', count: 10 });
    const { bridge } = makeBridge(t, dir, [route(topic, '/data/AccountChangeEvent', { format: 'avro' }, dir)], {}, 'error');
    await bridge.start();
    expect(await bridge.routes[0]?.done).toBe('failed');
    const status = bridge.status().routes[0];
    await bridge.stop();
    expect(status?.error).toMatch(
      new RegExp(
        `refused a new version of subject ${topic}-value; fields that differ from its latest version: Name \\(.*int.* in the registry.*string.* here\\)\\. The registry said \\(HTTP 409\\): .*[Ii]ncompatible`,
      ),
    );
    expect(status?.error).not.toMatch(/\n/);
    expect(status?.committed ?? null).toBeNull();
    expect(await versions(`${topic}-value`)).toEqual([1]);
  });

  it('sets refused events aside with the reason on a dead-letter route', async () => {
    const dir = tempDir();
    const topic = `refused-dl-${randomUUID().slice(0, 8)}`;
    await preRegisterIncompatible(`${topic}-value`);
    await t.admin('events/emit', { spec: 'cdc:Account', count: 50 });
    const retained = (await t.ledger('/data/AccountChangeEvent')).length;
    const { bridge } = makeBridge(
      t,
      dir,
      [route(topic, '/data/AccountChangeEvent', { format: 'avro' }, dir, { sinkOutage: { mode: 'dead-letter', after: '1h' } })],
      {},
      'error',
    );
    await bridge.start();
    await until(() => (bridge.status().routes[0]?.eventsCommitted ?? 0) >= retained, 40_000, 'every event dealt with');
    await bridge.stop();
    const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dead-letters'), fsync: true }).list();
    const kafkaDl = dl.filter((d) => d.sink?.startsWith('kafka'));
    expect(kafkaDl).toHaveLength(retained);
    for (const d of kafkaDl)
      expect(d.error).toMatch(new RegExp(`subject ${topic}-value; fields that differ from its latest version: Name`));
    // The JSON sink beside it took every event.
    expect(readSink(join(dir, 'json'))).toHaveLength(retained);
  });

  it('waits while the registry is unreachable (block route), then writes everything', async () => {
    const dir = tempDir();
    const topic = `down-${randomUUID().slice(0, 8)}`;
    const target = new URL(url);
    // In front of the registry: first pointing at a port where nothing listens (the registry is down).
    const proxy = new BlackholeProxy(await freePort());
    await proxy.start();
    const viaProxy = `http://127.0.0.1:${proxy.port}${target.pathname}`;
    await t.admin('events/emit', { spec: 'cdc:Case', count: 30 });
    const retained = (await t.ledger('/data/CaseChangeEvent')).length;
    const sink = { type: 'kafka', brokers, topic, format: 'avro', schemaRegistry: { url: viaProxy, timeoutMs: 2000 } };
    const { bridge } = makeBridge(
      t,
      dir,
      [{ name: 'r', source: { type: 'pubsub', org: 'emu', topic: '/data/CaseChangeEvent', initial: 'earliest' }, sinks: [sink] }],
      {},
      'error',
    );
    try {
      await bridge.start();
      await until(() => (bridge.status().routes[0]?.sinks[0]?.consecutiveFailures ?? 0) >= 2, 30_000, 'failed writes');
      const st = bridge.status().routes[0];
      expect(st?.sinks[0]?.lastError).toMatch(/schema registry http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7 is unreachable/);
      expect(st?.committed ?? null).toBeNull();
      expect(st?.state).not.toBe('failed');
      proxy.setTarget(Number(target.port));
      await until(() => (bridge.status().routes[0]?.eventsCommitted ?? 0) >= retained, 60_000, 'written once the registry answers');
    } finally {
      await bridge.stop();
      await proxy.stop();
    }
    const got = await decodeAll(topic, retained);
    expect(new Set(got.map((g) => g.decoded.eventId)).size).toBe(retained);
  });

  const noTinyproxy = tinyproxyUnavailable();
  it.skipIf(noTinyproxy !== null && process.env.CI !== 'true')(
    `reaches the registry through its own proxy (a refusal names the setting; credentials never shown) ${noTinyproxy ?? ''}`,
    async () => {
      if (noTinyproxy) throw new Error(`CI=true and tinyproxy cannot run: ${noTinyproxy}`);
      const dir = tempDir();
      const topic = `proxied-${randomUUID().slice(0, 8)}`;
      const target = new URL(url);
      const pass = 'registry-proxy-pass-77';
      const proxy = await startTinyproxy('127.0.0.1', await freePort(), '127.0.0.1', { user: 'bridge', pass });
      onTestFinished(() => proxy.stop());
      await t.admin('events/emit', { spec: 'cdc:Lead', count: 25 });
      const retained = (await t.ledger('/data/LeadChangeEvent')).length;
      // A short drain: the refused run is stopped while its sink still waits for the registry.
      const run = (registryProxy: Record<string, unknown>) =>
        makeBridge(
          t,
          dir,
          [
            {
              name: 'r',
              source: { type: 'pubsub', org: 'emu', topic: '/data/LeadChangeEvent', initial: 'earliest' },
              sinks: [{ type: 'kafka', brokers, topic, format: 'avro', schemaRegistry: { url, proxy: registryProxy } }],
            },
          ],
          { pipeline: { commitIntervalMs: 50, drainTimeoutMs: 500 } },
          'info',
        );
      const refused = run({ url: proxy.url }).bridge;
      try {
        await refused.start();
        await until(() => /refused CONNECT/.test(String(refused.status().routes[0]?.sinks[0]?.lastError)), 30_000, 'the refusal');
        expect(refused.status().routes[0]?.sinks[0]?.lastError).toMatch(
          /proxy http:\/\/127\.0\.0\.1:\d+ \(route r kafka#0 schemaRegistry\.proxy\) refused CONNECT 127\.0\.0\.1:\d+ with 407 .*set username and password in route r kafka#0 schemaRegistry\.proxy/,
        );
        expect(refused.status().routes[0]?.committed ?? null).toBeNull();
      } finally {
        await refused.stop();
      }
      const { bridge, capture } = run({ url: proxy.url, username: 'bridge', password: pass });
      try {
        await bridge.start();
        await until(() => (bridge.status().routes[0]?.eventsCommitted ?? 0) >= retained, 60_000, 'written through the proxy');
      } finally {
        await bridge.stop();
      }
      expect(capture.text()).toMatch(/schema registry through proxy http:\/\/127\.0\.0\.1:\d+ \(route r kafka#0 schemaRegistry\.proxy\)/);
      expect(capture.text()).not.toContain(pass);
      // The registry was reached through the tunnel, and the records decode with the id it gave.
      expect(proxy.log()).toMatch(new RegExp(`CONNECT 127\\.0\\.0\\.1:${target.port} `));
      const got = await decodeAll(topic, retained);
      expect(new Set(got.map((g) => g.decoded.eventId)).size).toBe(retained);
    },
  );

  it('types CometD change events from the describe, under subjects by record name', async () => {
    const dir = tempDir();
    const topic = `cometd-${randomUUID().slice(0, 8)}`;
    await t.admin('events/emit', { spec: 'cdc:Contact', count: 20 });
    const retained = (await t.ledger('/data/ContactChangeEvent')).length;
    const kafkaSink = { type: 'kafka', brokers, topic, format: 'avro', schemaRegistry: { url }, subjectNameStrategy: 'topic-record' };
    const { bridge } = makeBridge(
      t,
      dir,
      [
        {
          name: 'c',
          source: { type: 'cometd', org: 'emu', channel: '/data/ContactChangeEvent', initial: 'earliest' },
          sinks: [kafkaSink, { type: 'file', dir: join(dir, 'json') }],
        },
      ],
      {},
      'warn',
    );
    await bridge.start();
    await until(() => (bridge.status().routes[0]?.eventsCommitted ?? 0) >= retained, 30_000, 'committed');
    await bridge.stop();
    const json = new Map(readSink(join(dir, 'json')).map((e) => [e.eventId, e]));
    const got = await decodeAll(topic, retained);
    expect(got).toHaveLength(retained);
    expect(await versions(`${topic}-sfbridge.envelope.ContactChangeEvent`)).toEqual([1]);
    const schema = JSON.parse(((await (await fetch(`${url}/schemas/ids/${got[0]?.id}`)).json()) as { schema: string }).schema);
    const payload = schema.fields.find((f: { name: string }) => f.name === 'payload').type[1];
    expect(payload).toMatchObject({ name: 'ContactChangeEvent', namespace: 'sfbridge.cometd' });
    // CometD's values as sent (dates as ISO strings), compound Name nested as in the JSON envelope.
    let typed = 0;
    for (const g of got) {
      const e = json.get(g.decoded.eventId);
      if (typeof g.decoded.payload === 'string') expect(JSON.parse(g.decoded.payload)).toEqual(e.payload);
      else {
        typed++;
        expect(g.decoded.payload).toMatchObject(e.payload);
      }
    }
    expect(typed).toBe(retained);
  });

  it('writes JSON Schema envelopes: the JSON text behind the wire-format header, the schema typed from Salesforce', async () => {
    const dir = tempDir();
    const topic = `jsonschema-${randomUUID().slice(0, 8)}`;
    await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 25 });
    const retained = (await t.ledger('/event/Order_Event__e')).length;
    const { bridge } = makeBridge(t, dir, [route(topic, '/event/Order_Event__e', { format: 'json-schema' }, dir)], {}, 'warn');
    await bridge.start();
    await until(() => (bridge.status().routes[0]?.eventsCommitted ?? 0) >= retained, 30_000, 'committed');
    await bridge.stop();
    const json = new Map(readSink(join(dir, 'json')).map((e) => [e.eventId, e]));
    const got = await decodeAll(topic, retained);
    expect(got).toHaveLength(retained);
    for (const g of got) expect(g.decoded).toEqual(json.get(g.decoded.eventId));
    const subject = (await (await fetch(`${url}/subjects/${topic}-value/versions/latest`)).json()) as {
      schemaType?: string;
      schema: string;
    };
    expect(subject.schemaType).toBe('JSON');
    const schema = JSON.parse(subject.schema);
    expect(schema.properties.payload.properties).toHaveProperty('Order_Number__c');
    expect(schema.properties.payload.properties.CreatedDate).toEqual({ type: ['integer', 'string'] });
  });
});
