/**
 * Many orgs in one emulator process (`sfbridge emulator --tenants N`), for tests and benchmarks
 * of bridges that serve many orgs: each tenant is a whole emulated org with its own org id,
 * credentials, records, events and endpoints (its own ports, as each Salesforce org has its own
 * instance URL); they share the process and the TLS certificate. Tenant 0 has the default
 * credentials; tenant i adds `-i` to the client id, secret and refresh token, and is user
 * `admin<i>@sfbridge.emulator`.
 */
import { join } from 'node:path';
import type { EmulatorConfig } from './config.js';
import { Emulator, type EmulatorOptions } from './emulator.js';

/** An 18-character org id per tenant: 00D5g00000Emu01EAB for tenant 0, 00D5g00000T0001EAB for 1… */
export function tenantOrgId(i: number): string {
  return i === 0 ? '00D5g00000Emu01EAB' : `00D5g00000T${i.toString(36).padStart(4, '0')}EAB`;
}

export function tenantConfig(config: Partial<EmulatorConfig>, i: number): Partial<EmulatorConfig> {
  if (i === 0) return config;
  const base = {
    clientId: 'sfbridge-emulator-client',
    clientSecret: 'sfbridge-emulator-secret',
    refreshToken: 'sfbridge-emulator-refresh-token',
    ...config,
  };
  return {
    ...config,
    orgId: tenantOrgId(i),
    username: `admin${i}@sfbridge.emulator`,
    clientId: `${base.clientId}-${i}`,
    clientSecret: `${base.clientSecret}-${i}`,
    refreshToken: `${base.refreshToken}-${i}`,
  };
}

export async function startTenants(n: number, opts: EmulatorOptions): Promise<Emulator[]> {
  const out: Emulator[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const dataDir = opts.dataDir && (i === 0 ? opts.dataDir : join(opts.dataDir, `tenant-${i}`));
      const tlsDir = opts.tlsDir ?? (opts.dataDir ? join(opts.dataDir, 'tls') : undefined);
      out.push(
        await Emulator.start({
          ...opts,
          // Tenant 0 takes the ports asked for; the others pick free ones.
          port: i === 0 ? opts.port : 0,
          grpcPort: i === 0 ? opts.grpcPort : undefined,
          instanceUrl: i === 0 ? opts.instanceUrl : undefined,
          dataDir,
          tlsDir,
          config: tenantConfig(opts.config ?? {}, i),
        }),
      );
    }
  } catch (err) {
    await Promise.all(out.map((e) => e.stop()));
    throw err;
  }
  return out;
}
