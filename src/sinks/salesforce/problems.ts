import type { CheckContext } from '../../config/schema.js';
import { expressionProblem } from '../../shaping/expression.js';

/** `check`: the org must be configured and the mapping must compile. Shared by both Salesforce sinks. */
export function salesforceSinkProblems(c: { org: string; mapping?: string }, ctx: CheckContext): string[] {
  const out: string[] = [];
  if (!Object.hasOwn(ctx.config.orgs, c.org))
    out.push(`org: "${c.org}" is not under orgs (defined: ${Object.keys(ctx.config.orgs).join(', ') || 'none'})`);
  const bad = c.mapping ? expressionProblem(c.mapping) : null;
  if (bad) out.push(`mapping: ${bad}`);
  return out;
}
