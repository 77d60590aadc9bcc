/**
 * How the bridge connects to Kafka, for the Kafka sink, the Kafka source and the Kafka replay
 * store alike: the brokers, client id, TLS and SASL settings of their configs, and the
 * @platformatic/kafka client options they become (each adds its own timeouts and retries).
 */
import { z } from 'zod';
import { nestedErrors } from './errors.js';
import { certificateHint, sharedSecureContext, trustedCas } from './tls-ca.js';

export const kafkaConnectionFields = {
  brokers: z.array(z.string().regex(/^[^\s:/]+:\d+$/, 'must be host:port, such as 127.0.0.1:9092')).min(1),
  clientId: z.string().min(1).default('sfbridge'),
  ssl: z.boolean().default(false),
  /**
   * A private CA (PEM file) that signed the brokers' certificates, trusted besides the system's
   * roots (Strimzi's cluster CA, a company CA). Turns TLS on.
   */
  caCertFile: z.string().optional(),
  sasl: z
    .strictObject({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string().min(1),
      password: z.string().min(1),
    })
    .optional(),
};

const connectionSchema = z.object(kafkaConnectionFields);
type KafkaConnection = z.infer<typeof connectionSchema>;

const MECHANISMS = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' } as const;

/**
 * Read `caCertFile` now (a component's constructor), so an unreadable file stops the bridge at
 * start in its own words, not later as a failed connection; the text is cached for the client.
 */
export function readKafkaTrust(c: KafkaConnection, at: string): void {
  if (c.caCertFile) trustedCas(c.caCertFile, `${at} caCertFile`);
}

/**
 * The client options for a config's connection fields (retries: the library's own, 5). `at` names
 * the setting in the one-line error for an unreadable `caCertFile` (`route x kafka#0`).
 */
export function kafkaClientOptions(c: KafkaConnection, at = 'kafka') {
  const tls = c.caCertFile ? { secureContext: sharedSecureContext(trustedCas(c.caCertFile, `${at} caCertFile`)) } : c.ssl ? {} : null;
  return {
    clientId: c.clientId,
    bootstrapBrokers: c.brokers,
    retries: 5,
    ...(tls ? { tls } : {}),
    ...(c.sasl ? { sasl: { mechanism: MECHANISMS[c.sasl.mechanism], username: c.sasl.username, password: c.sasl.password } } : {}),
  };
}

/** Kafka error codes (`apiId`) of a refused SASL login, and what to check for each. */
const SASL_REFUSALS: Record<string, string> = {
  SASL_AUTHENTICATION_FAILED: 'the brokers refused the SASL login: check sasl.username, sasl.password and sasl.mechanism',
  UNSUPPORTED_SASL_MECHANISM: 'the brokers do not offer this sasl.mechanism: set one they enable',
};

/**
 * What to set when a connection failed for the brokers' TLS certificate (not trusted, expired, for
 * another host) or its SASL login, found anywhere in the error's causes. Else null.
 */
export function kafkaConnectionHint(err: unknown): string | null {
  const tls = certificateHint(err, "the brokers'", 'caCertFile');
  if (tls) return tls;
  const nested = nestedErrors(err) as Array<{ apiId?: unknown }>;
  const refusal = nested.map((e) => e.apiId).find((id): id is string => typeof id === 'string' && id in SASL_REFUSALS);
  return refusal ? (SASL_REFUSALS[refusal] as string) : null;
}

/** `message`, followed by what to set when the error's cause is the TLS trust or the SASL login. */
export function withConnectionHint(message: string, err: unknown): string {
  const hint = kafkaConnectionHint(err);
  return hint ? `${message}: ${hint}` : message;
}
