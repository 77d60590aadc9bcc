/** The `sfbridge` command line. Usage and config errors: one clear line on stderr, exit code 2. */

// Commands load their modules when run: `version`, `help` and usage errors stay instant, and each
// command pays only for the libraries it uses.
import { ConfigError, errorMessage, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import { parse, requireConfigPath } from './args.js';

const HELP = `sfbridge ${VERSION}: bridge Salesforce event streams into Kafka, webhooks and files

usage: sfbridge <command> [options]

commands:
  run -c FILE                  run the bridge (daemon)
  check -c FILE [--online]     validate a config and print what it would do; --online: reach each org's endpoints
  replay list|get|set|reset    inspect or move stored replay positions
  pushtopic list|apply         inspect or apply the PushTopics declared in the config
  managed list|apply           inspect or apply the managed subscriptions declared in the config
  channels list|apply          inspect or apply the custom channels and filters declared in the config
  route restart NAME           restart a failed route of the running bridge now
  status -c FILE               each route's state, position age, lag, retention headroom, dead letters
  backfill --route NAME        export records changed since a time through a route's sinks
  dlq list|replay|purge        inspect, deliver again or drop dead-lettered events
  tail -c FILE                 print a route's events to stdout (does not move its position)
  demo                         end-to-end demo on the embedded emulator, resumable
  emulator                     run the local Salesforce emulator (OAuth, REST, CometD, Pub/Sub)
  version                      print the version
  help                         this text

Every command takes --help. Example configs: config/. Docs: README.md, docs/.`;

const CHECK_HELP = `usage: sfbridge check -c FILE [--online]

Validate FILE (YAML; \${ENV_VAR} and \${file:/path} are substituted) and print the plan:
orgs, replay store, routes with their source and sinks. Exit 0 when valid, 2 otherwise.

--online also reaches each org from this machine (through its proxy when one applies): OAuth,
REST, the Pub/Sub API and CometD, one line each with the time of a first call (connection and TLS
included) and of a second; exit 1 when any of them fails.`;

async function checkCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    'check',
    argv,
    { config: { type: 'string', short: 'c' }, online: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    false,
  );
  if (values.help) {
    process.stdout.write(`${CHECK_HELP}\n`);
    return 0;
  }
  const { loadConfigFile } = await import('../config-file.js');
  const { describePlan } = await import('./plan.js');
  const { path, config } = loadConfigFile(requireConfigPath('check', values.config));
  process.stdout.write(`${describePlan(config, path)}\n`);
  if (!values.online) return 0;
  const { checkOnline } = await import('./online.js');
  const { silentLogger } = await import('../log.js');
  process.stdout.write('\nreachability from this machine:\n');
  const r = await checkOnline(config, silentLogger());
  process.stdout.write(`${r.lines.map((l) => `  ${l}`).join('\n')}\n`);
  return r.ok ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${HELP}\n`);
        return command === undefined ? 2 : 0;
      case 'version':
      case '--version':
      case '-v':
        process.stdout.write(`sfbridge ${VERSION} (node ${process.version})\n`);
        return 0;
      case 'run':
        return await (await import('./run.js')).runCommand(rest);
      case 'check':
        return await checkCommand(rest);
      case 'replay':
        return await (await import('./replay.js')).replayCommand(rest);
      case 'demo':
        return await (await import('./demo.js')).demoCommand(rest);
      case 'pushtopic':
        return await (await import('./pushtopic.js')).pushtopicCommand(rest);
      case 'managed':
        return await (await import('./managed.js')).managedCommand(rest);
      case 'channels':
        return await (await import('./channels.js')).channelsCommand(rest);
      case 'status':
        return await (await import('./status.js')).statusCommand(rest);
      case 'route':
        return await (await import('./route.js')).routeCommand(rest);
      case 'backfill':
        return await (await import('./backfill.js')).backfillCommand(rest);
      case 'dlq':
        return await (await import('./dlq.js')).dlqCommand(rest);
      case 'tail':
        return await (await import('./tail.js')).tailCommand(rest);
      case 'emulator':
        return await (await import('./emulator.js')).emulatorCommand(rest);
      default:
        throw new UsageError(
          `unknown command "${command}" (commands: run, check, replay, pushtopic, managed, channels, route, backfill, dlq, tail, demo, emulator, version, help)`,
        );
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`sfbridge: ${p}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`sfbridge: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`sfbridge: ${errorMessage(err)}\n`);
    if (process.env.SFBRIDGE_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
