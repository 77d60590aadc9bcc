/** `sfbridge dlq list|replay|purge`: inspect dead letters, deliver them again, or drop them. */

import type { BridgeConfig, ShapingConfig } from '../config/schema.js';
import { loadConfigFile } from '../config-file.js';
import type { DeadLetter, DeadLetterFilter, DeadLetterStore } from '../deadletter/types.js';
import type { Envelope } from '../envelope.js';
import { errorMessage, UsageError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { OrgServices } from '../orgs.js';
import { createDeadLetterStore } from '../pipeline/stores.js';
import { lookup, sinkTypes } from '../registry.js';
import { routeKey } from '../route-facts.js';
import { sinkShape } from '../shaping/shape.js';
import type { Sink } from '../sinks/types.js';
import { parse, requireConfigPath } from './args.js';

export const DLQ_HELP = `usage: sfbridge dlq list   -c FILE [--route KEY] [--sink NAME] [--json]
       sfbridge dlq replay -c FILE [--route KEY] [--sink NAME] [--id ID]...
       sfbridge dlq purge  -c FILE [--route KEY] [--sink NAME] [--id ID]... --yes

Dead letters are events a sink rejected (a webhook's 4xx), or could not take for longer than
routes[].sinkOutage.after on a dead-letter route. Each keeps the envelope, the last error and
the attempt count. NAME is the sink as status shows it: <type>#<index in the route's sinks>.
replay sends each dead letter again to the sink it came from (as configured now), one attempt
each, and removes those delivered; the others stay, with the error printed. Exit 1 if any stayed.
Entries that fail their integrity check (altered or forged; see deadLetter.signingKey) are listed
as TAMPERED and never replayed.
purge removes them for good (asks for --yes). Safe to run while the bridge is running.`;

export async function dlqCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('dlq', argv, {
    config: { type: 'string', short: 'c' },
    route: { type: 'string' },
    sink: { type: 'string' },
    id: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    yes: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const [action, ...extra] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${DLQ_HELP}\n`);
    return values.help ? 0 : 2;
  }
  if (extra.length > 0) throw new UsageError(`dlq ${action}: unexpected argument "${extra[0]}"`);
  const { config } = loadConfigFile(requireConfigPath('dlq', values.config));
  const store = createDeadLetterStore(config, silentLogger());
  await store.open();
  const filter: DeadLetterFilter = { route: values.route, sink: values.sink, ids: values.id };
  const selected = await store.list(filter);
  switch (action) {
    case 'list':
      if (values.json) process.stdout.write(`${JSON.stringify(selected, null, 2)}\n`);
      else if (selected.length === 0) process.stdout.write(`no dead letters${describeFilter(filter)} in ${store.describe()}\n`);
      else printTable(selected);
      return 0;
    case 'purge': {
      if (!values.yes) {
        process.stderr.write(
          `sfbridge: dlq purge would remove ${selected.length} dead letter(s)${describeFilter(filter)} for good; add --yes to do it\n`,
        );
        return 2;
      }
      const n = await store.remove(selected.map((d) => d.id));
      process.stdout.write(`removed ${n} dead letter(s)${describeFilter(filter)}\n`);
      return 0;
    }
    case 'replay':
      return replay(config, store, selected);
    default:
      throw new UsageError(`dlq: unknown action "${action}" (list, replay, purge)`);
  }
}

async function replay(config: BridgeConfig, store: DeadLetterStore, selected: DeadLetter[]): Promise<number> {
  const log = silentLogger(); // each outcome is printed below
  const orgs = new OrgServices(config.orgs, log);
  const sinks = new Map<string, Sink | null>();
  let delivered = 0;
  let stayed = 0;
  try {
    for (const d of selected.sort((a, b) => a.deadLetteredAt.localeCompare(b.deadLetteredAt))) {
      const why = (msg: string) => {
        stayed++;
        process.stdout.write(`stayed  ${d.id}  ${msg}\n`);
      };
      if (d.tampered) {
        why(
          'failed its integrity check (altered, forged, or written before dead letters were signed); not sent. Inspect it with dlq list --json, then purge it',
        );
        continue;
      }
      if (!d.envelope) {
        why('no decoded envelope to send (raw input only); inspect it with dlq list --json');
        continue;
      }
      const target = `${d.route}\u0000${d.sink}`;
      if (!sinks.has(target)) sinks.set(target, await openSink(config, d, log, orgs));
      const sink = sinks.get(target);
      if (!sink) {
        why(`route "${d.route}" has no sink ${d.sink} in this config any more`);
        continue;
      }
      const shaped = d.unshaped ? await shapeNow(config, d, d.envelope) : { event: d.envelope };
      if ('error' in shaped) {
        why(shaped.error);
        continue;
      }
      if (shaped.event === null) {
        // The current config filters it out: the pipeline would acknowledge it without a write.
        await store.remove([d.id]);
        delivered++;
        process.stdout.write(`skipped ${d.id}  filtered out by the sink's current filter\n`);
        continue;
      }
      // One attempt per dead letter: whatever the sink reports is final for this run.
      const failure = await sink.write([shaped.event]).then(
        (outcomes) => (outcomes?.[0] && outcomes[0].status !== 'delivered' ? outcomes[0].error : null),
        (err: unknown) => errorMessage(err),
      );
      if (failure !== null) {
        why(failure);
        continue;
      }
      await store.remove([d.id]);
      delivered++;
      process.stdout.write(`sent    ${d.id}  ${d.envelope.channel} #${d.envelope.replayId}\n`);
    }
  } finally {
    for (const s of sinks.values()) {
      await s?.drain().catch(() => {});
      await s?.close().catch(() => {});
    }
    orgs.close();
  }
  process.stdout.write(`replayed ${delivered}, still dead-lettered ${stayed}\n`);
  return stayed === 0 ? 0 : 1;
}

/** A dead letter the sink's shaping threw on, shaped with the config's current settings: the event, null (filtered), or why not. */
async function shapeNow(config: BridgeConfig, d: DeadLetter, e: Envelope): Promise<{ event: Envelope | null } | { error: string }> {
  const at = sinkAt(config, d);
  if (!at) return { error: `route "${d.route}" has no sink ${d.sink} in this config any more` };
  const shape = sinkShape(at.route, at.sink as ShapingConfig, at.index);
  if (!shape) return { event: e };
  const r = await shape.apply([e]);
  if (r.failed[0]) return { error: r.failed[0].error };
  return { event: r.out[0] ?? null };
}

function sinkAt(config: BridgeConfig, d: DeadLetter) {
  const route = config.routes.find((r) => routeKey(r) === d.route);
  const m = /^(\w+)#(\d+)$/.exec(d.sink);
  const sink = m && route ? route.sinks[Number(m[2])] : undefined;
  return sink && route && sink.type === m?.[1] ? { route, sink, index: Number(m?.[2]) } : null;
}

async function openSink(config: BridgeConfig, d: DeadLetter, log: Logger, orgs: OrgServices) {
  const sc = sinkAt(config, d)?.sink;
  if (!sc) return null;
  const sink = lookup(sinkTypes, sc.type).create(sc, { route: d.route, log, sinkName: d.sink, orgs });
  await sink.open();
  return sink;
}

function describeFilter(f: DeadLetterFilter): string {
  const parts = [f.route && `route ${f.route}`, f.sink && `sink ${f.sink}`, f.ids && `ids ${f.ids.join(',')}`].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function printTable(list: DeadLetter[]): void {
  const rows = list.map((d) => [
    d.id,
    d.route,
    d.sink,
    `${d.tampered ? '(TAMPERED) ' : ''}${d.envelope ? `${d.envelope.channel} #${d.envelope.replayId}` : '(raw input)'}`,
    String(d.attempts),
    d.deadLetteredAt,
    d.error.length > 80 ? `${d.error.slice(0, 77)}...` : d.error,
  ]);
  const head = ['ID', 'ROUTE', 'SINK', 'EVENT', 'ATTEMPTS', 'DEAD-LETTERED', 'ERROR'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  for (const r of [head, ...rows])
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd()}\n`,
    );
  process.stdout.write(`${list.length} dead letter(s)\n`);
}
