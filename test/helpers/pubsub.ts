import type * as grpc from '@grpc/grpc-js';
import { authMetadata, createPubSubClient, type PubSubStub } from '../../src/salesforce/pubsub-client.js';
import type { TestEmulator } from './emulator.js';

export async function pubsubClient(t: TestEmulator): Promise<{ client: PubSubStub; md: () => Promise<grpc.Metadata> }> {
  const client = createPubSubClient({ endpoint: t.emu.info.pubsubEndpoint, ca: t.ca, plaintext: !t.emu.info.tls });
  return {
    client,
    md: async () => authMetadata({ accessToken: await t.token(), instanceUrl: t.emu.info.instanceUrl, orgId: t.emu.info.orgId }),
  };
}

export interface OpenStream {
  call: grpc.ClientDuplexStream<unknown, any>;
  responses: any[];
  events(): any[];
  error: (grpc.ServiceError & { metadata: grpc.Metadata }) | null;
  ended: boolean;
}

export function subscribe(client: PubSubStub, md: grpc.Metadata, first: Record<string, unknown>): OpenStream {
  const call = client.Subscribe(md) as grpc.ClientDuplexStream<unknown, any>;
  const s: OpenStream = {
    call,
    responses: [],
    events: () => s.responses.flatMap((r) => r.events),
    error: null,
    ended: false,
  };
  call.on('data', (r: any) => s.responses.push(r));
  call.on('error', (e: any) => {
    s.error = e;
  });
  call.on('end', () => {
    s.ended = true;
  });
  call.write(first);
  return s;
}

export function seqOf(b: Buffer): number {
  return Number(Buffer.from(b).readBigUInt64BE());
}

export function replayBytes(seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b;
}
