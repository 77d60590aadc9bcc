/** Build the token provider of a configured org (its extra CA read once, added to the system roots). */
import type { Agent } from 'node:http';
import type { OrgConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { trustedCas } from '../tls-ca.js';
import { OAuthTokenProvider } from './oauth.js';
import type { TokenProvider } from './types.js';

export function tokenProviderFor(
  org: string,
  config: OrgConfig,
  log: Logger,
  agentFor?: (url: string) => Agent | undefined,
): TokenProvider {
  const ca = config.caCertFile ? trustedCas(config.caCertFile, `orgs.${org}.caCertFile`) : null;
  return new OAuthTokenProvider({ org, config, log, ca, lifetimeSeconds: config.sessionSeconds, agentFor });
}

export type { TokenProvider } from './types.js';
