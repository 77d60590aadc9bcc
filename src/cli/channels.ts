/** `sfbridge channels list|apply -c FILE [--org NAME] [--prune]`: custom channels and their filters as code. */
import { loadConfigFile } from '../config-file.js';
import { UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { OrgServices } from '../orgs.js';
import { applyChannels, listChannels } from '../salesforce/channels.js';
import { parse, requireConfigPath } from './args.js';

export const CHANNELS_HELP = `usage: sfbridge channels list  -c FILE [--org NAME]
       sfbridge channels apply -c FILE [--org NAME] [--prune]

list: the org's custom channels (PlatformEventChannel) with their members and filter expressions,
each marked as declared or not under orgs.<name>.channels.
apply: create the declared channels and members, update a member whose filter differs, and report
drift. Members the config does not name are left alone unless --prune is given.`;

export async function channelsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('channels', argv, {
    config: { type: 'string', short: 'c' },
    org: { type: 'string' },
    prune: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const [action] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${CHANNELS_HELP}\n`);
    return values.help ? 0 : 2;
  }
  if (action !== 'list' && action !== 'apply') throw new UsageError(`channels: unknown action "${action}"; use list or apply`);
  const { config } = loadConfigFile(requireConfigPath('channels', values.config));
  const names = values.org ? [values.org] : Object.keys(config.orgs);
  if (names.length === 0) throw new UsageError('channels: the config defines no orgs');
  const orgs = new OrgServices(config.orgs, silentLogger());
  let drift = false;
  try {
    for (const name of names) {
      const declared = orgs.config(name).channels;
      if (action === 'list') {
        const channels = await listChannels(orgs.rest(name));
        process.stdout.write(`${name}: ${channels.length} custom channel(s)\n`);
        for (const c of channels) {
          const d = declared.find((x) => x.name === c.name);
          process.stdout.write(`  ${c.name}  ${c.record.ChannelType}  ${d ? 'declared' : 'not in the config'}\n`);
          for (const m of c.members) {
            const want = d?.members.find((x) => x.entity === m.SelectedEntity);
            const note = !d
              ? ''
              : !want
                ? '  (not in the config)'
                : (want.filter ?? '') !== (m.FilterExpression ?? '')
                  ? '  (differs from the config: apply updates it)'
                  : '';
            process.stdout.write(`    ${m.SelectedEntity}  ${m.FilterExpression ? `filter: ${m.FilterExpression}` : 'no filter'}${note}\n`);
          }
        }
        for (const d of declared.filter((x) => !channels.some((c) => c.name === x.name)))
          process.stdout.write(`  ${d.name}  declared, not in the org (apply creates it)\n`);
      } else {
        if (declared.length === 0) {
          process.stdout.write(`${name}: no channels declared\n`);
          continue;
        }
        for (const r of await applyChannels(orgs.rest(name), declared, { prune: values.prune === true })) {
          if (r.action === 'drift') drift = true;
          process.stdout.write(`${name}: ${r.what} ${r.action}${r.detail ? ` (${r.detail})` : ''}\n`);
        }
      }
    }
  } finally {
    orgs.close();
  }
  // Drift is reported, not an error, but scripts can tell: exit 1.
  return drift ? 1 : 0;
}
