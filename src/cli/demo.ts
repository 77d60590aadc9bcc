/**
 * `sfbridge demo`: an offline smoke demo. Each run appends 1,000 synthetic Account change events
 * to ./data/demo/input.ndjson and bridges them into ./data/demo/out/ with the file replay store,
 * so a second run shows the bridge resuming from its stored position.
 * (Replaced by the emulator demo once the emulator and the Pub/Sub subscriber exist.)
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseConfig } from '../config/load.js';
import { ENVELOPE_VERSION, type Envelope } from '../envelope.js';
import { createLogger } from '../log.js';
import { parse } from './args.js';
import { runBridge } from './run.js';

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    'demo',
    argv,
    { dir: { type: 'string' }, events: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    false,
  );
  if (values.help) {
    process.stdout.write(
      'usage: sfbridge demo [--dir DIR] [--events N]\n\nOffline demo: synthetic change events -> file sink, resumable (run it twice).\n',
    );
    return 0;
  }
  const dir = resolve(values.dir ?? 'data/demo');
  const count = Number(values.events ?? 1000);
  mkdirSync(dir, { recursive: true });
  const input = join(dir, 'input.ndjson');
  appendFileSync(input, synthetic(count));
  const configPath = join(dir, 'bridge.yaml');
  const yaml = `# Written by \`sfbridge demo\`; run it yourself with: sfbridge run -c ${configPath}
log: { level: info }
replayStore: { type: file, path: ${join(dir, 'replay.json')} }
routes:
  - name: demo-accounts
    source: { type: file, path: ${input} }
    sinks:
      - { type: file, dir: ${join(dir, 'out')} }
`;
  writeFileSync(configPath, yaml);
  const config = parseConfig(yaml, configPath);
  const log = createLogger({ level: 'info', format: config.log.format });
  process.stderr.write(`sfbridge demo: appended ${count} events to ${input}; bridging into ${join(dir, 'out')} (Ctrl-C stops cleanly)\n`);
  let received = 0;
  let committed: string | null = null;
  const code = await runBridge(config, log, {
    onStarted: (bridge) => {
      const route = bridge.routes[0];
      void route?.done.then(() => {
        const s = route.status();
        received = s.eventsReceived;
        committed = s.committed?.replayId ?? null;
      });
    },
  });
  process.stdout.write(
    [
      '',
      `demo finished: ${received} events bridged this run (earlier runs' events were skipped: resumed from the stored position)`,
      `  output:          ${join(dir, 'out')}/*.ndjson (one JSON envelope per line)`,
      `  replay position: ${committed ?? '(none)'} in ${join(dir, 'replay.json')}  (see: sfbridge replay list -c ${configPath})`,
      '  run `npm run demo` again: only the new events are bridged.',
      '',
    ].join('\n'),
  );
  return code;
}

function synthetic(n: number): string {
  const lines: string[] = [];
  const base = Date.now();
  for (let i = 0; i < n; i++) {
    const id = `001${(base + i).toString(36).toUpperCase().padStart(12, '0')}`.slice(0, 18);
    const t = new Date(base + i).toISOString();
    const e: Envelope = {
      v: ENVELOPE_VERSION,
      org: 'demo',
      channel: '/data/AccountChangeEvent',
      replayId: '',
      eventId: `demo-${base}-${i}`,
      schemaId: 'demo-account-v1',
      eventTime: t,
      receivedAt: t,
      kind: 'cdc',
      changeHeader: {
        entity: 'Account',
        recordIds: [id],
        changeType: i % 10 === 0 ? 'CREATE' : 'UPDATE',
        changeOrigin: 'com/salesforce/api/rest/63.0',
        transactionKey: `tx-${base}-${i}`,
        sequenceNumber: 1,
        commitTimestamp: base + i,
        commitUser: '005000000000001AAA',
        changedFields: ['Name', 'LastModifiedDate'],
        nulledFields: [],
        diffFields: [],
      },
      payload: { Name: `Demo Account ${i}`, LastModifiedDate: base + i },
    };
    lines.push(JSON.stringify(e));
  }
  return `${lines.join('\n')}\n`;
}
