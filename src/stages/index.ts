/**
 * Stages between a route's subscriber and the pipeline, chosen by the route's config: the initial
 * snapshot and backfill past retention (a route of one object's change events with
 * `initial: snapshot` or `onInvalidReplay: backfill`), overflow recovery (`overflow: recover`) and gap enrichment
 * (`gaps: enrich`) and full records on update (`fullRecord`). Each
 * wraps the subscriber and keeps stream order, credit and positions as they are.
 */
import type { RouteConfig } from '../config/schema.js';
import { BridgeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OrgServices } from '../orgs.js';
import { exportable, sourceFacts } from '../route-facts.js';
import type { Subscriber } from '../subscribers/types.js';
import { OverflowRecovery } from './overflow-recovery.js';
import { fullRecords, GAPS, RecordEnrichment } from './record-enrichment.js';
import { RecordExport } from './record-export.js';

export function withStages(subscriber: Subscriber, rc: RouteConfig, orgs: OrgServices, log: Logger): Subscriber {
  const facts = sourceFacts(rc.source);
  const org = facts.org;
  let s = subscriber;
  if (exportable(facts) && (facts.snapshot || facts.backfill))
    s = new RecordExport(
      s,
      orgs.rest(facts.org),
      orgs,
      { org: facts.org, topic: facts.channel, snapshot: facts.snapshot, backfill: facts.backfill },
      log,
    );
  if (rc.overflow === 'recover') {
    if (!org)
      throw new BridgeError('CONFIG', `overflow: recover needs a Salesforce source (pubsub or cometd with an org), not ${rc.source.type}`);
    s = new OverflowRecovery(s, orgs.rest(org), log);
  }
  if (rc.gaps === 'enrich') {
    if (!org)
      throw new BridgeError('CONFIG', `gaps: enrich needs a Salesforce source (pubsub or cometd with an org), not ${rc.source.type}`);
    s = new RecordEnrichment(s, orgs.rest(org), GAPS, orgs.config(org).limits.reservePercent, log);
  }
  if (rc.fullRecord !== false) {
    if (!org)
      throw new BridgeError(
        'CONFIG',
        `fullRecord needs a Salesforce change-event source (pubsub or cometd with an org), not ${rc.source.type}`,
      );
    const fields = rc.fullRecord === true ? null : rc.fullRecord.fields;
    s = new RecordEnrichment(s, orgs.rest(org), fullRecords(fields), orgs.config(org).limits.reservePercent, log);
  }
  return s;
}
