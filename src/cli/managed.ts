/** `sfbridge managed list|apply -c FILE [--org NAME]`: managed subscriptions as code. */
import { loadConfigFile } from '../config-file.js';
import { UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { OrgServices } from '../orgs.js';
import { applyManagedSubscriptions, listManagedSubscriptions } from '../salesforce/managed-subscriptions.js';
import { parse, requireConfigPath } from './args.js';

export const MANAGED_HELP = `usage: sfbridge managed list  -c FILE [--org NAME]
       sfbridge managed apply -c FILE [--org NAME]

list: the org's managed subscriptions (ManagedEventSubscription). apply: create or update the
ones declared under orgs.<name>.managedSubscriptions through the Tooling API; one whose topic
differs from the org's is reported (a topic cannot change) and apply exits 1.`;

export async function managedCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('managed', argv, {
    config: { type: 'string', short: 'c' },
    org: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const [action] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${MANAGED_HELP}\n`);
    return values.help ? 0 : 2;
  }
  if (action !== 'list' && action !== 'apply') throw new UsageError(`managed: unknown action "${action}"; use list or apply`);
  const { config } = loadConfigFile(requireConfigPath('managed', values.config));
  const names = values.org ? [values.org] : Object.keys(config.orgs);
  if (names.length === 0) throw new UsageError('managed: the config defines no orgs');
  const orgs = new OrgServices(config.orgs, silentLogger());
  let code = 0;
  try {
    for (const name of names) {
      const org = orgs.config(name);
      if (action === 'list') {
        const subs = await listManagedSubscriptions(orgs.rest(name));
        process.stdout.write(`${name}: ${subs.length} managed subscription(s)\n`);
        for (const m of subs)
          process.stdout.write(
            `  ${m.DeveloperName}  ${m.Id}  ${m.Metadata.state}  ${m.Metadata.topicName}  default ${m.Metadata.defaultReplay}, error recovery ${m.Metadata.errorRecoveryReplay}\n`,
          );
        continue;
      }
      if (org.managedSubscriptions.length === 0) {
        process.stdout.write(`${name}: no managedSubscriptions declared\n`);
        continue;
      }
      for (const r of await applyManagedSubscriptions(orgs.rest(name), org.managedSubscriptions)) {
        process.stdout.write(`${name}: ${r.name} ${r.action}${r.id ? ` (${r.id})` : ''}${r.detail ? `: ${r.detail}` : ''}\n`);
        if (r.action === 'conflict') code = 1;
      }
    }
  } finally {
    orgs.close();
  }
  return code;
}
