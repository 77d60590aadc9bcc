/** `sfbridge emulator`: run the local Salesforce emulator until SIGINT/SIGTERM. */
import { ADMIN_ROUTES } from '../emulator/admin.js';
import { loadEmulatorConfig } from '../emulator/config.js';
import type { Emulator } from '../emulator/emulator.js';
import { startTenants } from '../emulator/tenants.js';
import { UsageError } from '../errors.js';
import { parse } from './args.js';

export const EMULATOR_HELP = `usage: sfbridge emulator [--port N] [--grpc-port N] [--data-dir DIR] [--config FILE]
                         [--plaintext] [--jwt-cert FILE] [--generate SPEC]
                         [--token-lifetime SECONDS] [--keepalive-ms MS] [--delay-ms MS] [--throttle EVENTS_PER_SEC]
                         [--instance-url URL] [--tenants N]

A local Salesforce for tests and demos: OAuth token endpoint, REST (sObjects, query, sObject
Collections reads and writes, limits, Bulk API 2.0 query and ingest jobs), CometD at /cometd/63.0,
the Pub/Sub API over gRPC (Subscribe, Publish, PublishStream), and an admin API
for fault injection and the event ledger. --port 0 (default) picks free ports; gRPC uses port+1
unless --grpc-port is given. HTTPS/TLS by default with a self-signed CA (caCertPath in the ready
line); --plaintext serves plain HTTP/gRPC. --data-dir keeps events and records across restarts.
--instance-url is the URL clients are told to use when they reach it through something in between.
--generate cdc:Account:5000/s,platform:Order_Event__e:500/s produces steady traffic.
--tenants N serves N orgs in one process, each with its own org id, credentials, data and ports
(tenant i: client id and secret with -i added, user admin<i>@sfbridge.emulator); the ready line
then lists them under "tenants".

When ready it prints one JSON line on stdout:
  {"event":"ready","loginUrl":…,"instanceUrl":…,"pubsubEndpoint":…,"cometdUrl":…,"adminUrl":…,
   "clientId":…,"clientSecret":…,"username":…,"password":…,"caCertPath":…}
Default credentials: client id sfbridge-emulator-client, secret sfbridge-emulator-secret,
user admin@sfbridge.emulator / emulator-password, refresh token sfbridge-emulator-refresh-token.`;

export async function emulatorCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    'emulator',
    argv,
    {
      port: { type: 'string' },
      'grpc-port': { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string', short: 'c' },
      plaintext: { type: 'boolean' },
      'jwt-cert': { type: 'string' },
      generate: { type: 'string' },
      'token-lifetime': { type: 'string' },
      'keepalive-ms': { type: 'string' },
      'delay-ms': { type: 'string' },
      throttle: { type: 'string' },
      'instance-url': { type: 'string' },
      tenants: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(`${EMULATOR_HELP}\n`);
    return 0;
  }
  const port = portArg(values.port, '--port') ?? 0;
  const grpcPort = portArg(values['grpc-port'], '--grpc-port');
  const config = loadEmulatorConfig(values.config);
  if (values.plaintext) config.plaintext = true;
  if (values['jwt-cert']) config.jwtCertFile = values['jwt-cert'];
  const tokenLifetime = numArg(values['token-lifetime'], '--token-lifetime');
  if (tokenLifetime) config.tokenLifetimeSeconds = tokenLifetime;
  const keepalive = numArg(values['keepalive-ms'], '--keepalive-ms');
  if (keepalive) config.keepaliveMs = keepalive;
  const instanceUrl = values['instance-url'];
  if (instanceUrl !== undefined && !URL.canParse(instanceUrl)) throw new UsageError(`--instance-url: "${instanceUrl}" is not a URL`);
  const tenants = numArg(values.tenants, '--tenants') ?? 1;
  if (!Number.isInteger(tenants) || tenants < 1 || tenants > 2000)
    throw new UsageError(`emulator: --tenants must be a whole number from 1 to 2000, got "${values.tenants}"`);
  const emus = await startTenants(tenants, { port, grpcPort, dataDir: values['data-dir'], config, generate: values.generate, instanceUrl });
  for (const e of emus) {
    e.faults.delayMs = numArg(values['delay-ms'], '--delay-ms') ?? 0;
    e.faults.setThrottle(numArg(values.throttle, '--throttle') ?? 0);
  }
  const emu = emus[0] as Emulator;
  process.stdout.write(`${JSON.stringify(tenants > 1 ? { ...emu.info, tenants: emus.map((e) => e.info) } : emu.info)}\n`);
  const i = emu.info;
  process.stderr.write(
    [
      `sfbridge emulator ready (org ${i.orgId})`,
      `  login/instance: ${i.instanceUrl}   pub/sub: ${i.pubsubEndpoint}   cometd: ${i.cometdUrl}`,
      `  client_credentials: ${i.clientId} / ${i.clientSecret}; password flow: ${i.username} / ${i.password}`,
      i.caCertPath ? `  TLS: trust ${i.caCertPath}` : '  plaintext (no TLS)',
      `  admin: ${i.adminUrl} (${ADMIN_ROUTES.length} routes; GET ${i.adminUrl}/status lists them)`,
      ...(tenants > 1 ? [`  ${tenants} tenants (orgs), each with its own ports and credentials: the ready line's "tenants"`] : []),
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write('sfbridge emulator: stopping\n');
  await Promise.all(emus.map((e) => e.stop()));
  return 0;
}

function numArg(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`emulator: ${name} must be a non-negative number, got "${v}"`);
  return n;
}

function portArg(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`emulator: ${name} must be a port number (0-65535), got "${v}"`);
  return n;
}
