/**
 * A route's facts, as its source describes itself (registry `facts`): its subscription key, its
 * in-flight window, and the source facts the pipeline, metrics, `check` and the stages use.
 * Nothing here reads a component's config.
 */
import type { RouteConfig } from './config/schema.js';
import { lookup, subscriberTypes } from './registry.js';
import { changeEventEntity } from './salesforce/topics.js';
import type { SourceFacts } from './subscribers/types.js';

export function sourceFacts(source: RouteConfig['source']): SourceFacts {
  return lookup(subscriberTypes, source.type).facts(source);
}

/** A source of one object's change events in an org: what a record export (snapshot, backfill) can query. */
export function exportable(f: SourceFacts): f is SourceFacts & { org: string; channel: string } {
  return f.org !== null && f.channel !== null && changeEventEntity(f.channel) !== null;
}

/** For `check`: a backfill the source asks for but its channel cannot give ('' when none). */
export function backfillNote(f: SourceFacts): string {
  if (!f.backfill || exportable(f)) return '';
  return `; onInvalidReplay backfill: not possible on ${f.channel} (not one object's change events), a refused position resumes at earliest with a replay-gap marker saying so`;
}

/** The subscription key of a route: its name, else what its source names (channel, topic, path). */
export function routeKey(route: RouteConfig): string {
  return route.name ?? sourceFacts(route.source).key;
}

/** A route's in-flight limit: its own, else the pipeline's, else its source's default (500; CometD 2000). */
export function inFlightLimit(route: RouteConfig, pipeline: { maxInFlight?: number }): number {
  return route.maxInFlight ?? pipeline.maxInFlight ?? sourceFacts(route.source).maxInFlight;
}
