import type { CheckContext } from '../../config/schema.js';
import { mappingProblem } from '../mapping.js';

/** `check`: the org must be configured and the mapping must compile. Shared by both Salesforce sinks. */
export function salesforceSinkProblems(c: { org: string; mapping?: string }, ctx: CheckContext): string[] {
  const out: string[] = [];
  if (!Object.hasOwn(ctx.config.orgs, c.org))
    out.push(`org: "${c.org}" is not under orgs (defined: ${Object.keys(ctx.config.orgs).join(', ') || 'none'})`);
  const bad = mappingProblem(c.mapping);
  if (bad) out.push(`mapping: ${bad}`);
  return out;
}
