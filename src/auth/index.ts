/** Build the token provider of a configured org (reads its extra CA file once). */
import { readFileSync } from 'node:fs';
import type { OrgConfig } from '../config/schema.js';
import { BridgeError } from '../errors.js';
import type { Logger } from '../log.js';
import { createTokenProvider } from '../registry.js';
import type { TokenProvider } from './types.js';

export function tokenProviderFor(org: string, config: OrgConfig, log: Logger): TokenProvider {
  let ca: string | null = null;
  if (config.caCertFile) {
    try {
      ca = readFileSync(config.caCertFile, 'utf8');
    } catch (err) {
      throw new BridgeError(
        'AUTH_CA',
        `orgs.${org}.caCertFile: cannot read ${config.caCertFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
  }
  return createTokenProvider({ org, config, log, ca, lifetimeSeconds: config.sessionSeconds });
}

export type { AccessToken, TokenProvider } from './types.js';
