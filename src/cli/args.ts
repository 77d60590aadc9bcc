/** Small wrapper over node:util parseArgs that turns its errors into one-line UsageErrors. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../errors.js';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
  allowPositionals = true,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/^Unknown option/, 'unknown option');
    throw new UsageError(`${command}: ${msg} (see \`sfbridge ${command} --help\`)`);
  }
}

export function requireConfigPath(command: string, value: string | undefined): string {
  if (!value) throw new UsageError(`${command}: missing -c/--config FILE (example configs are in config/)`);
  return value;
}
