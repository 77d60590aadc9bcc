/**
 * Shaping of one sink's stream: the route's settings, then the sink's own (config/schema.ts
 * `shapingShape`). Each step filters, then selects fields, masks, and transforms, in that order.
 * The result says, per event of a batch, whether it goes to the sink (shaped), was filtered out
 * (acknowledged as if delivered, so positions move), or could not be shaped (an expression threw:
 * the delivery policy dead-letters it or stops the route, delivery-policy.ts).
 * A route without shaping has no Shape at all; one without expressions never touches JSONata and
 * never awaits.
 */
import type { ShapingConfig } from '../config/schema.js';
import { type Envelope, filterKind, payloadValue } from '../envelope.js';
import { type Compiled, compileExpression, expressionMessage } from './expression.js';
import { excludeFields, includeFields, maskFields, type PathTree, pathTree } from './fields.js';
import { EventFilter } from './filter.js';

interface Step {
  /** Where the settings are (`route`, `sink`), for error messages. */
  at: string;
  filter: EventFilter | null;
  include: PathTree | null;
  exclude: PathTree | null;
  mask: PathTree | null;
  transform: Compiled | null;
}

export interface ShapeResult {
  /** The events to write, shaped, in stream order. */
  out: Envelope[];
  /** Events filtered out. */
  filtered: number;
  /** Events an expression threw on: the original envelope and why. */
  failed: Array<{ event: Envelope; error: string }>;
}

/** A replay-gap marker and an undecodable stand-in carry facts about the stream, not data: never reshaped. */
const keepsPayload = (e: Envelope) => e.kind === 'replay-gap' || filterKind(e) === 'undecodable';

export class Shape {
  private readonly steps: Step[];
  private readonly usesExpressions: boolean;

  private constructor(steps: Step[]) {
    this.steps = steps;
    this.usesExpressions = steps.some((s) => s.transform || s.filter?.expression);
  }

  /** The shaping of `specs` in order (e.g. the route's, then the sink's), or null when none shapes anything. */
  static of(specs: Array<{ at: string; config: ShapingConfig }>): Shape | null {
    const steps = specs
      .map(({ at, config: c }) => ({
        at,
        filter: c.filter ? new EventFilter(c.filter) : null,
        include: c.fields?.include ? pathTree(c.fields.include) : null,
        exclude: c.fields?.exclude ? pathTree(c.fields.exclude) : null,
        mask: c.mask ? pathTree(c.mask) : null,
        transform: c.transform ? compileExpression(c.transform) : null,
      }))
      .filter((s) => s.filter || s.include || s.exclude || s.mask || s.transform);
    return steps.length > 0 ? new Shape(steps) : null;
  }

  apply(events: readonly Envelope[]): ShapeResult | Promise<ShapeResult> {
    return this.usesExpressions ? this.applyAsync(events) : this.applySync(events);
  }

  private applySync(events: readonly Envelope[]): ShapeResult {
    const r: ShapeResult = { out: [], filtered: 0, failed: [] };
    for (const event of events) {
      let e: Envelope | null = event;
      for (const s of this.steps) {
        if (s.filter && s.filter.structured(e) === 'drop') {
          e = null;
          break;
        }
        e = selectFields(e, s);
      }
      if (e) r.out.push(e);
      else r.filtered++;
    }
    return r;
  }

  private async applyAsync(events: readonly Envelope[]): Promise<ShapeResult> {
    const r: ShapeResult = { out: [], filtered: 0, failed: [] };
    for (const event of events) {
      let e: Envelope | null = event;
      let what = '';
      try {
        for (const s of this.steps) {
          what = `${s.at} filter.expression`;
          const verdict = s.filter ? s.filter.structured(e) : 'pass';
          if (verdict === 'drop' || (verdict === 'ask' && !(await s.filter?.ask(asInput(e))))) {
            e = null;
            break;
          }
          e = selectFields(e, s);
          what = `${s.at} transform`;
          if (s.transform && !keepsPayload(e)) {
            const mapped: unknown = await s.transform.evaluate(asInput(e));
            e = { ...e, payload: mapped === undefined ? null : mapped };
          }
        }
      } catch (err) {
        r.failed.push({ event, error: `${what} failed on event ${event.eventId}: ${expressionMessage(err)}` });
        continue;
      }
      if (e) r.out.push(e);
      else r.filtered++;
    }
    return r;
  }
}

/** The shaping settings in words (`sfbridge check`), or null when there are none. */
export function describeShaping(c: ShapingConfig): string | null {
  const parts: string[] = [];
  const f = c.filter;
  if (f) {
    const conds = [
      f.changeTypes && `changeTypes ${f.changeTypes.join('|')}`,
      f.entities && `entities ${f.entities.join('|')}`,
      f.changedFieldsAny && `changed any of ${f.changedFieldsAny.join(', ')}`,
      f.kinds && `kinds ${f.kinds.join('|')}`,
      f.expression && `JSONata ${f.expression}`,
    ].filter(Boolean);
    parts.push(`filter ${conds.join(' and ')} (markers pass unless named)`);
  }
  if (c.fields?.include) parts.push(`only fields ${c.fields.include.join(', ')}`);
  if (c.fields?.exclude) parts.push(`without fields ${c.fields.exclude.join(', ')}`);
  if (c.mask) parts.push(`masked ${c.mask.join(', ')}`);
  if (c.transform) parts.push('payload mapped by a JSONata transform');
  return parts.length > 0 ? parts.join('; ') : null;
}

/** Sink `index` of a route: the route's shaping, then the sink's own. */
export function sinkShape(route: ShapingConfig, sink: ShapingConfig, index: number): Shape | null {
  return Shape.of([
    { at: 'the route', config: route },
    { at: `sinks[${index}]`, config: sink },
  ]);
}

/** The envelope with its payload as a value (what JSONata reads). */
function asInput(e: Envelope): Envelope {
  return { ...e, payload: payloadValue(e) };
}

function selectFields(e: Envelope, s: Step): Envelope {
  if (!(s.include || s.exclude || s.mask) || keepsPayload(e)) return e;
  let p = payloadValue(e);
  if (s.include) p = includeFields(p, s.include);
  if (s.exclude) p = excludeFields(p, s.exclude);
  if (s.mask) p = maskFields(p, s.mask);
  return { ...e, payload: p };
}
