/**
 * `sfbridge demo`: the whole bridge end to end on the embedded emulator. It starts the emulator
 * (state in ./data/demo/emulator), makes some CDC and platform-event traffic through its REST API,
 * runs the bridge into ./data/demo/out with the file replay store, prints where to look and stops.
 * Run it again: the bridge resumes from its stored positions and only the new traffic arrives.
 * `--follow` keeps traffic flowing until Ctrl-C.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseConfig } from '../config-file.js';
import { Emulator } from '../emulator/emulator.js';
import { createLogger } from '../log.js';
import type { Bridge } from '../pipeline/bridge.js';
import { parse } from './args.js';
import { runBridge } from './run.js';

const ACCOUNTS = 20;
const BULK = 1000;
const ORDERS = 10;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    'demo',
    argv,
    { dir: { type: 'string' }, follow: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    false,
  );
  if (values.help) {
    process.stdout.write(
      'usage: sfbridge demo [--dir DIR] [--follow]\n\nStarts the local Salesforce emulator, creates CDC and platform-event traffic, and bridges it into\nDIR/out (default ./data/demo/out). Run it twice: the second run resumes from the stored positions.\n--follow keeps generating traffic until Ctrl-C.\n',
    );
    return 0;
  }
  const dir = resolve(values.dir ?? 'data/demo');
  const out = join(dir, 'out');
  mkdirSync(dir, { recursive: true });
  const say = (s: string) => process.stderr.write(`demo: ${s}\n`);

  say('starting the Salesforce emulator');
  const emu = await Emulator.start({ dataDir: join(dir, 'emulator'), config: { ledger: false } });
  const configPath = join(dir, 'bridge.yaml');
  const yaml = demoConfig(emu, dir, out);
  writeFileSync(configPath, yaml);
  const config = parseConfig(yaml, configPath);

  say(`making traffic: ${ACCOUNTS} accounts created and updated through REST, ${BULK} more change events, ${ORDERS} platform events`);
  await makeTraffic(emu);
  const expected = { accounts: ACCOUNTS * 2 + BULK, orders: ORDERS };
  if (values.follow) emu.startGenerator('cdc:Account:20/s,platform:Order_Event__e:2/s');

  const log = createLogger({ level: 'warn', format: config.log.format });
  let bridgeRef: Bridge | null = null;
  const code = await runBridge(config, log, {
    onStarted: (bridge) => {
      bridgeRef = bridge;
      say(values.follow ? 'bridge running; Ctrl-C stops it cleanly' : "bridge running; it stops once this run's events are delivered");
      if (values.follow) return;
      const timer = setInterval(() => {
        const done = bridge.routes.every((r) => r.status().eventsAcked >= expected[r.key as keyof typeof expected]);
        if (done) {
          clearInterval(timer);
          void bridge.stop();
        }
      }, 100);
    },
  });
  await emu.stop();
  const bridge = bridgeRef as Bridge | null;
  if (!bridge) return code;
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  const lines = ['', `demo finished (exit ${code}):`];
  for (const r of bridge.status().routes) {
    lines.push(
      `  ${r.key.padEnd(9)} ${String(r.eventsAcked).padStart(5)} events delivered this run, position ${r.committed?.replayId ?? '(none)'}`,
    );
  }
  lines.push(
    `  output:    ${rel(out)}/*.ndjson — one JSON envelope per line (format: docs/envelope.md)`,
    `  positions: ${rel(join(dir, 'replay.json'))}  (sfbridge replay list -c ${rel(configPath)})`,
    `  config:    ${rel(configPath)}`,
    '  run `npm run demo` again: it resumes from the stored positions and delivers only the new events.',
    '',
  );
  process.stdout.write(lines.join('\n'));
  return code;
}

/** The demo's bridge config, pointing at this run's emulator (its ports change between runs). */
function demoConfig(emu: Emulator, dir: string, out: string): string {
  const i = emu.info;
  return `# Written by \`sfbridge demo\` for this run (the emulator's ports change between runs).
log: { level: info }
orgs:
  emulator:
    loginUrl: ${i.loginUrl}
    caCertFile: ${i.caCertPath}
    pubsubEndpoint: ${i.pubsubEndpoint}
    auth: { flow: client_credentials, clientId: ${i.clientId}, clientSecret: ${i.clientSecret} }
replayStore: { type: file, path: ${join(dir, 'replay.json')} }
routes:
  - name: accounts
    source: { type: pubsub, org: emulator, topic: /data/AccountChangeEvent, initial: earliest }
    sinks: [{ type: file, dir: ${out} }]
  - name: orders
    source: { type: pubsub, org: emulator, topic: /event/Order_Event__e, initial: earliest }
    sinks: [{ type: file, dir: ${out} }]
`;
}

async function makeTraffic(emu: Emulator): Promise<void> {
  const org = emu.org;
  const ids: string[] = [];
  for (let n = 0; n < ACCOUNTS; n++) {
    ids.push(
      org.createRecord('Account', { Name: `Demo Account ${n}`, Industry: 'Technology', BillingCity: 'Paris', Phone: '+33 1 00 00 00 00' })
        .Id,
    );
  }
  for (const [n, id] of ids.entries())
    org.updateRecord('Account', id, { BillingCity: n % 2 ? 'Lyon' : 'Nantes', Phone: null, AnnualRevenue: 1000 * n });
  emu.generator.emit({ kind: 'cdc', object: 'Account' }, BULK);
  for (let n = 0; n < ORDERS; n++)
    org.publishPlatformEvent('Order_Event__e', { OrderNumber__c: `ORD-${Date.now()}-${n}`, Amount__c: 10 + n, Status__c: 'New' });
}
