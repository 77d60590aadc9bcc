/**
 * How the bridge connects to Kafka, for the Kafka sink, the Kafka source and the Kafka replay
 * store alike: the brokers, client id, TLS and SASL settings of their configs, and the
 * @platformatic/kafka client options they become (each adds its own timeouts and retries).
 */
import { z } from 'zod';

export const kafkaConnectionFields = {
  brokers: z.array(z.string().regex(/^[^\s:/]+:\d+$/, 'must be host:port, such as 127.0.0.1:9092')).min(1),
  clientId: z.string().min(1).default('sfbridge'),
  ssl: z.boolean().default(false),
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

/** The client options for a config's connection fields (retries: the library's own, 5). */
export function kafkaClientOptions(c: KafkaConnection) {
  return {
    clientId: c.clientId,
    bootstrapBrokers: c.brokers,
    retries: 5,
    ...(c.ssl ? { tls: {} } : {}),
    ...(c.sasl ? { sasl: { mechanism: MECHANISMS[c.sasl.mechanism], username: c.sasl.username, password: c.sasl.password } } : {}),
  };
}
