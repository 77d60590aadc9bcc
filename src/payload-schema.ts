/**
 * What a source knows about an event's payload type: Salesforce's Avro schema for it (Pub/Sub:
 * GetSchema; CometD: built from the object's describe). Sinks that register schemas (the Kafka
 * sink's `avro` and `json-schema` formats) ask the route's source through their context, so they
 * never talk to Salesforce or branch on the source's type.
 */
import type { Envelope } from './envelope.js';

export interface PayloadSchema {
  /** Names this version of the type: a new id means the type changed (a field was added). */
  id: string;
  /** An Avro record schema (`{type: "record", name, namespace, fields}`) as Salesforce gives it. */
  avro: Record<string, unknown>;
}

/** The payload schema of an event's type; null when nothing describes it. */
export type PayloadSchemaSource = (e: Envelope) => Promise<PayloadSchema | null>;
