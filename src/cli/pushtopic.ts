/** `sfbridge pushtopic list|apply -c FILE [--org NAME]`: inspect or apply the configured PushTopics. */
import { loadConfigFile } from '../config-file.js';
import { UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { OrgServices } from '../orgs.js';
import { applyPushTopics, listPushTopics } from '../salesforce/pushtopics.js';
import { parse, requireConfigPath } from './args.js';

export const PUSHTOPIC_HELP = `usage: sfbridge pushtopic list  -c FILE [--org NAME]
       sfbridge pushtopic apply -c FILE [--org NAME]

list: the org's PushTopic records. apply: create or update the PushTopics declared under
orgs.<name>.pushTopics (the bridge also does this when it starts).`;

export async function pushtopicCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('pushtopic', argv, {
    config: { type: 'string', short: 'c' },
    org: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const [action] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${PUSHTOPIC_HELP}\n`);
    return values.help ? 0 : 2;
  }
  if (action !== 'list' && action !== 'apply') throw new UsageError(`pushtopic: unknown action "${action}"; use list or apply`);
  const { config } = loadConfigFile(requireConfigPath('pushtopic', values.config));
  const names = values.org ? [values.org] : Object.keys(config.orgs);
  if (names.length === 0) throw new UsageError('pushtopic: the config defines no orgs');
  const orgs = new OrgServices(config.orgs, silentLogger());
  try {
    for (const name of names) {
      const org = orgs.config(name);
      if (action === 'list') {
        const topics = await listPushTopics(orgs.rest(name));
        process.stdout.write(`${name}: ${topics.length} PushTopic(s)\n`);
        for (const t of topics) process.stdout.write(`  ${t.Name}  ${t.Id}  ${t.IsActive === false ? 'inactive' : 'active'}  ${t.Query}\n`);
      } else {
        if (org.pushTopics.length === 0) {
          process.stdout.write(`${name}: no pushTopics declared\n`);
          continue;
        }
        for (const r of await applyPushTopics(orgs.rest(name), org.pushTopics, org.apiVersion))
          process.stdout.write(`${name}: ${r.name} ${r.action} (${r.id})\n`);
      }
    }
  } finally {
    orgs.close();
  }
  return 0;
}
