/**
 * CloudEvents 1.0 attributes of an envelope, for sinks that can speak CloudEvents (Kafka binary
 * content mode as `ce_*` headers, webhook structured mode as `application/cloudevents+json`).
 * `data` is the whole envelope, so nothing of it is lost; docs/envelope.md has the mapping.
 */
import { type Envelope, envelopeJson } from '../envelope.js';

export interface CloudEventAttributes {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time?: string;
}

export function cloudEventAttributes(e: Envelope): CloudEventAttributes {
  const name = e.channel.replace(/^\/(data|event|topic|u)\//, '');
  return {
    specversion: '1.0',
    id: e.eventId,
    // One source per org and channel: consumers de-duplicate on (source, id).
    source: `salesforce://${e.org}${e.channel}`,
    type: `com.salesforce.${e.kind}.${name}`,
    ...(e.eventTime ? { time: e.eventTime } : {}),
  };
}

/** Kafka binary content mode: the attributes as `ce_` headers, the envelope as the value. */
export function cloudEventHeaders(e: Envelope): Record<string, string> {
  const a = cloudEventAttributes(e);
  const h: Record<string, string> = {
    ce_specversion: a.specversion,
    ce_id: a.id,
    ce_source: a.source,
    ce_type: a.type,
    'content-type': 'application/json',
  };
  if (a.time) h.ce_time = a.time;
  return h;
}

/** Structured content mode: one JSON object with the attributes and the envelope as `data`. */
export function cloudEventStructured(e: Envelope): string {
  // `data` last, so the envelope's own JSON text is spliced in as it is.
  const head = JSON.stringify({ ...cloudEventAttributes(e), datacontenttype: 'application/json' });
  return `${head.slice(0, -1)},"data":${envelopeJson(e)}}`;
}
