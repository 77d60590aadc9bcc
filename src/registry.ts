/**
 * The one place where implementations are named by their config `type`. Each entry pairs a config
 * schema (kept beside the implementation) with a constructor; the config schema of the whole file
 * is assembled from these, so a new subscriber, sink or store is registered here and nowhere else.
 */
import { z } from 'zod';
import { type CheckContext, type ComponentConfig, type ComponentSchema, configSchemaWith, shapingShape } from './config/schema.js';
import { FileDeadLetterStore, fileDeadLetterConfigSchema } from './deadletter/file-store.js';
import type { DeadLetterStore } from './deadletter/types.js';
import type { Logger } from './log.js';
import type { OrgServices } from './orgs.js';
import { FileReplayStore, fileStoreConfigSchema } from './replay/file/file-store.js';
import { KafkaReplayStore, kafkaStoreConfigSchema } from './replay/kafka/kafka-store.js';
import { MemoryReplayStore, memoryStoreConfigSchema } from './replay/memory/memory-store.js';
import { PostgresReplayStore, postgresStoreConfigSchema } from './replay/postgres/postgres-store.js';
import { RedisReplayStore, redisStoreConfigSchema } from './replay/redis/redis-store.js';
import type { ReplayStore } from './replay/types.js';
import { FileSink, fileSinkClaims, fileSinkConfigSchema } from './sinks/file/file-sink.js';
import { kafkaSinkConfigSchema } from './sinks/kafka/config.js';
import { KafkaSink, kafkaSinkProblems } from './sinks/kafka/kafka-sink.js';
import { mqttSinkConfigSchema } from './sinks/mqtt/config.js';
import { MqttSink } from './sinks/mqtt/mqtt-sink.js';
import { natsSinkConfigSchema } from './sinks/nats/config.js';
import { NatsSink } from './sinks/nats/nats-sink.js';
import { postgresSinkConfigSchema } from './sinks/postgres/config.js';
import { PostgresSink, postgresSinkProblems } from './sinks/postgres/postgres-sink.js';
import { rabbitmqSinkConfigSchema } from './sinks/rabbitmq/config.js';
import { RabbitmqSink } from './sinks/rabbitmq/rabbitmq-sink.js';
import { redisStreamSinkConfigSchema } from './sinks/redis-stream/config.js';
import { RedisStreamSink } from './sinks/redis-stream/redis-stream-sink.js';
import { salesforceSinkConfigSchema } from './sinks/salesforce/config.js';
import { salesforceSinkProblems } from './sinks/salesforce/problems.js';
import { SalesforceSink } from './sinks/salesforce/salesforce-sink.js';
import { salesforceRecordsSinkConfigSchema } from './sinks/salesforce-records/config.js';
import { SalesforceRecordsSink } from './sinks/salesforce-records/salesforce-records-sink.js';
import { sqsSinkConfigSchema } from './sinks/sqs/config.js';
import { SqsSink } from './sinks/sqs/sqs-sink.js';
import { StdoutSink, stdoutSinkConfigSchema } from './sinks/stdout/stdout-sink.js';
import type { Sink } from './sinks/types.js';
import { webhookSinkConfigSchema } from './sinks/webhook/config.js';
import { WebhookSink } from './sinks/webhook/webhook-sink.js';
import { cometdSourceFacts, cometdSubscriberConfigSchema } from './subscribers/cometd/config.js';
import { CometdSubscriber } from './subscribers/cometd/subscriber.js';
import { ExportSubscriber, exportSourceFacts, exportSubscriberConfigSchema } from './subscribers/export/export-subscriber.js';
import { FileSubscriber, fileSourceFacts, fileSubscriberConfigSchema } from './subscribers/file/file-subscriber.js';
import { httpSourceFacts, httpSourceProblems, httpSubscriberConfigSchema } from './subscribers/http/config.js';
import { HttpSubscriber } from './subscribers/http/http-subscriber.js';
import { kafkaSourceFacts, kafkaSubscriberConfigSchema } from './subscribers/kafka/config.js';
import { KafkaSubscriber } from './subscribers/kafka/kafka-subscriber.js';
import { pubsubSourceFacts, pubsubSubscriberConfigSchema } from './subscribers/pubsub/config.js';
import { PubSubSubscriber } from './subscribers/pubsub/subscriber.js';
import type { SourceFacts, Subscriber } from './subscribers/types.js';

export interface BuildContext {
  /** Route (subscription key) the component serves; empty for shared components. */
  route: string;
  log: Logger;
  /** Per-org token providers and connections (subscribers that talk to Salesforce). */
  orgs?: OrgServices;
  /** Sinks: their name in status, logs and dead letters (`webhook#0`). */
  sinkName?: string;
  /** Sinks: the object describe of the route's org (SinkContext.describeObject). */
  describeObject?: (entity: string) => Promise<Array<{ name: string; type: string }>>;
  /** Sinks: the payload schema of an event's type, from the route's source (SinkContext.payloadSchema). */
  payloadSchema?: import('./payload-schema.js').PayloadSchemaSource;
}

// biome-ignore lint/suspicious/noExplicitAny: each entry's config type is checked by its schema.
type AnyConfig = any;

export interface Registration<T, C = AnyConfig> {
  /** Strict object schema with `type: z.literal(name)`. */
  schema: z.ZodType<C> & { shape: Record<string, z.ZodType> };
  create(config: C, ctx: BuildContext): T;
  /**
   * What this component writes exclusively (e.g. a file series), for `check`: two components of
   * one config that claim the same thing would overwrite each other, and are refused.
   */
  exclusive?(config: C, route: { key: string; channel: string | null }): string[];
  /** Problems `check` can see only with the bridge around it (the route, the replay store, other sinks). */
  problems?(config: C, ctx: CheckContext): string[];
}

/** A source also says what it is: its route facts (subscribers/types.ts). */
export interface SourceRegistration<C = AnyConfig> extends Registration<Subscriber, C> {
  facts(config: C): SourceFacts;
}

/** A replay store says whether it can hold HA leases. */
export interface StoreRegistration<C = AnyConfig> extends Registration<ReplayStore, C> {
  leases?: boolean;
}

/** Entries are written against their own config type (inferred from the schema). */
const source = <C>(r: SourceRegistration<C>) => r as unknown as SourceRegistration;
const sink = <C>(r: Registration<Sink, C>) => r as unknown as Registration<Sink>;
const store = <C>(r: StoreRegistration<C>) => r as unknown as StoreRegistration;

export const subscriberTypes: Record<string, SourceRegistration> = {
  file: source({ schema: fileSubscriberConfigSchema, create: (c) => new FileSubscriber(c), facts: fileSourceFacts }),
  pubsub: source({
    schema: pubsubSubscriberConfigSchema,
    create: (c, ctx) => new PubSubSubscriber(c, needOrgs(ctx)),
    facts: pubsubSourceFacts,
  }),
  cometd: source({
    schema: cometdSubscriberConfigSchema,
    create: (c, ctx) => new CometdSubscriber(c, needOrgs(ctx)),
    facts: cometdSourceFacts,
  }),
  kafka: source({ schema: kafkaSubscriberConfigSchema, create: (c) => new KafkaSubscriber(c), facts: kafkaSourceFacts }),
  http: source({
    schema: httpSubscriberConfigSchema,
    create: (c) => new HttpSubscriber(c),
    facts: httpSourceFacts,
    problems: httpSourceProblems,
  }),
  export: source({
    schema: exportSubscriberConfigSchema,
    create: (c, ctx) => new ExportSubscriber(c, needOrgs(ctx)),
    facts: exportSourceFacts,
  }),
};

export const sinkTypes: Record<string, Registration<Sink>> = {
  file: sink({ schema: fileSinkConfigSchema, create: (c, ctx) => new FileSink(c, ctx), exclusive: fileSinkClaims }),
  kafka: sink({ schema: kafkaSinkConfigSchema, create: (c, ctx) => new KafkaSink(c, ctx), problems: kafkaSinkProblems }),
  webhook: sink({ schema: webhookSinkConfigSchema, create: (c, ctx) => new WebhookSink(c, ctx) }),
  stdout: sink({ schema: stdoutSinkConfigSchema, create: (c) => new StdoutSink(c) }),
  postgres: sink({ schema: postgresSinkConfigSchema, create: (c, ctx) => new PostgresSink(c, ctx), problems: postgresSinkProblems }),
  mqtt: sink({ schema: mqttSinkConfigSchema, create: (c, ctx) => new MqttSink(c, ctx) }),
  nats: sink({ schema: natsSinkConfigSchema, create: (c, ctx) => new NatsSink(c, ctx) }),
  rabbitmq: sink({ schema: rabbitmqSinkConfigSchema, create: (c, ctx) => new RabbitmqSink(c, ctx) }),
  sqs: sink({ schema: sqsSinkConfigSchema, create: (c, ctx) => new SqsSink(c, ctx) }),
  'redis-stream': sink({ schema: redisStreamSinkConfigSchema, create: (c, ctx) => new RedisStreamSink(c, ctx) }),
  salesforce: sink({
    schema: salesforceSinkConfigSchema,
    create: (c, ctx) => new SalesforceSink(c, ctx, needOrgs(ctx)),
    problems: (c, ctx) => salesforceSinkProblems(c, ctx),
  }),
  'salesforce-records': sink({
    schema: salesforceRecordsSinkConfigSchema,
    create: (c, ctx) => new SalesforceRecordsSink(c, ctx, needOrgs(ctx)),
    problems: (c, ctx) => [
      ...salesforceSinkProblems(c, ctx),
      ...((c.operation === 'upsert') === (c.externalIdField !== undefined)
        ? []
        : ['externalIdField: required for operation upsert, and only for it']),
    ],
  }),
};

/** Where undeliverable events are kept (config `deadLetter`). */
export const deadLetterStoreTypes: Record<string, Registration<DeadLetterStore>> = {
  file: {
    schema: fileDeadLetterConfigSchema,
    create: (c) => new FileDeadLetterStore(c),
  },
};

export const replayStoreTypes: Record<string, StoreRegistration> = {
  file: store({ schema: fileStoreConfigSchema, create: (c) => new FileReplayStore(c) }),
  redis: store({ schema: redisStoreConfigSchema, create: (c) => new RedisReplayStore(c), leases: true }),
  postgres: store({ schema: postgresStoreConfigSchema, create: (c) => new PostgresReplayStore(c), leases: true }),
  kafka: store({ schema: kafkaStoreConfigSchema, create: (c) => new KafkaReplayStore(c) }),
  memory: store({ schema: memoryStoreConfigSchema, create: () => new MemoryReplayStore() }),
};

function unionOf<T>(table: Record<string, Registration<T>>, common: Record<string, z.ZodType> = {}): ComponentSchema {
  const schemas = Object.values(table).map((r) => (r.schema as unknown as z.ZodObject).extend(common));
  const union = z.discriminatedUnion('type', schemas as unknown as [z.ZodObject, ...z.ZodObject[]]);
  return union as unknown as z.ZodType<ComponentConfig, ComponentConfig>;
}

/** The whole configuration file's schema, with every registered component type. */
export const configSchema = configSchemaWith({
  source: unionOf(subscriberTypes),
  // Every sink takes the shaping settings (filter, fields, mask, transform) beside its own.
  sink: unionOf(sinkTypes, shapingShape),
  replayStore: unionOf(replayStoreTypes),
  deadLetter: unionOf(deadLetterStoreTypes),
});

function needOrgs(ctx: BuildContext): OrgServices {
  if (!ctx.orgs) throw new Error('this component needs org services (token providers, connections)');
  return ctx.orgs;
}

export function lookup<R>(table: Record<string, R>, type: string): R {
  const reg = table[type];
  if (!reg) throw new Error(`no implementation registered for type "${type}"`);
  return reg;
}
