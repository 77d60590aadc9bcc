/** `sfbridge check`: what a config will do, in words. */

import { formatDuration } from '../config/duration.js';
import type { BridgeConfig, ShapingConfig } from '../config/schema.js';
import { silentLogger } from '../log.js';
import { OrgServices } from '../orgs.js';
import { createDeadLetterStore, createReplayStore } from '../pipeline/stores.js';
import { lookup, sinkTypes, subscriberTypes } from '../registry.js';
import { backfillNote, inFlightLimit, routeKey, sourceFacts } from '../route-facts.js';
import { describeShaping } from '../shaping/shape.js';

export function describePlan(config: BridgeConfig, path: string): string {
  const log = silentLogger();
  const out: string[] = [`config ${path}: OK`];
  const orgs = Object.entries(config.orgs);
  out.push(`orgs (${orgs.length}):`);
  for (const [name, org] of orgs) {
    out.push(`  ${name}: ${org.loginUrl} via ${org.auth.flow}, API ${org.apiVersion}`);
    for (const c of org.channels)
      out.push(
        `    channel /${c.type}/${c.name}: ${c.members.map((m) => `${m.entity}${m.filter ? ` where ${m.filter}` : ''}`).join('; ')} (sfbridge channels apply creates it)`,
      );
    for (const m of org.managedSubscriptions) {
      out.push(
        `    managed subscription ${m.name} on ${m.topic}: ${m.state}, starts at ${m.defaultReplay}, after an expired position resumes at ${m.errorRecoveryReplay} (sfbridge managed apply creates it)`,
      );
      if (m.errorRecoveryReplay === 'LATEST') out.push(`    WARNING: ${managedLatestWarning(name, m.name)}`);
    }
  }
  out.push(`replay store: ${createReplayStore(config, log).describe()}`);
  out.push(`dead-letter store: ${createDeadLetterStore(config, log).describe()}`);
  const p = config.pipeline;
  out.push(
    `pipeline: up to ${p.maxInFlight ?? '500 (2000 for CometD)'} events in flight per route, sink writes up to ${p.maxBatchEvents} events, commit every ${p.commitIntervalMs} ms or ${p.commitMaxEvents} events, drain timeout ${p.drainTimeoutMs} ms`,
  );
  out.push(`routes (${config.routes.length}):`);
  for (const rc of config.routes) {
    const key = routeKey(rc);
    const ctx = { route: key, log, orgs: new OrgServices(config.orgs, log) };
    out.push(`  ${key}`);
    const source = lookup(subscriberTypes, rc.source.type).create(rc.source, ctx).describe();
    out.push(`    source: ${source}${backfillNote(sourceFacts(rc.source))}`);
    if (rc.fullRecord !== false)
      out.push(
        `    full records on update: ${rc.fullRecord === true ? 'every field' : rc.fullRecord.fields.join(', ')}, as of the fetch (Composite API)`,
      );
    const routeShaping = describeShaping(rc);
    if (routeShaping) out.push(`    shaping (every sink): ${routeShaping}`);
    rc.sinks.forEach((sc, i) => {
      out.push(`    sink ${i + 1} (${sc.type}#${i}): ${lookup(sinkTypes, sc.type).create(sc, ctx).describe()}`);
      const shaping = describeShaping(sc as ShapingConfig);
      if (shaping) out.push(`      shaping: ${shaping}`);
    });
    out.push(`    max in flight: ${inFlightLimit(rc, p)}`);
    out.push(
      rc.sinkOutage.mode === 'block'
        ? '    sink outage: block (hold the replay commit and retry; Salesforce retention is the buffer)'
        : `    sink outage: dead-letter after ${formatDuration(rc.sinkOutage.after)}`,
    );
  }
  if (config.health) out.push(`health endpoints: http://${config.health.host}:${config.health.port}/healthz, /readyz, /status, /metrics`);
  return out.join('\n');
}

/**
 * errorRecoveryReplay LATEST (Salesforce's default) can skip events, and nothing says so: a
 * managed subscription whose committed position expired resumes at the newest event.
 */
export function managedLatestWarning(org: string, name: string): string {
  return `orgs.${org}.managedSubscriptions ${name}: errorRecoveryReplay LATEST skips events: if the bridge is stopped past the retention (72 h), Salesforce resumes this subscription at the newest event and the events in between are never sent, without an error. The bridge cannot tell that from a quiet channel, so no replay-gap marker follows; its own position stays in the replay store (sfbridge replay list). Set errorRecoveryReplay: EARLIEST to receive the retained events instead (the consumer sees some again)`;
}
