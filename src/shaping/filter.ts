/**
 * One `filter:` of a route or sink. Structured conditions are plain comparisons (no JSONata);
 * `expression` is JSONata over the envelope. Every condition given must hold.
 * Markers (replay-gap, gap and overflow events, undecodable stand-ins) say something about the
 * stream itself: they pass every filter unless it names their kind in `kinds` (or, for gap and
 * overflow events, a change type of theirs in `changeTypes`: any GAP_CREATE/UPDATE/DELETE/UNDELETE
 * names gap events, GAP_OVERFLOW overflow events), so they are never dropped by accident.
 */
import type { ShapingConfig } from '../config/schema.js';
import { type Envelope, filterKind } from '../envelope.js';
import { type Compiled, compileExpression, truthy } from './expression.js';

type FilterConfig = NonNullable<ShapingConfig['filter']>;

const MARKERS = new Set<string>(['replay-gap', 'gap', 'overflow', 'undecodable']);

export class EventFilter {
  private readonly changeTypes: Set<string> | null;
  private readonly entities: Set<string> | null;
  private readonly changed: string[] | null;
  private readonly kinds: Set<string> | null;
  /** `;client=<name>` as it ends a changeOrigin (notFromClient). */
  private readonly originSuffix: string | null;
  readonly expression: Compiled | null;

  constructor(f: FilterConfig) {
    this.changeTypes = f.changeTypes ? new Set(f.changeTypes) : null;
    this.entities = f.entities ? new Set(f.entities) : null;
    this.changed = f.changedFieldsAny ?? null;
    this.kinds = f.kinds ? new Set(f.kinds) : null;
    this.originSuffix = f.notFromClient ? `;client=${f.notFromClient}` : null;
    this.expression = f.expression ? compileExpression(f.expression) : null;
  }

  /** Whether the event passes without asking the expression: 'pass', 'drop', or 'ask' (the expression decides). */
  structured(e: Envelope): 'pass' | 'drop' | 'ask' {
    const kind = filterKind(e);
    if (MARKERS.has(kind) && !this.names(kind)) return 'pass';
    const h = e.changeHeader;
    if (this.kinds && !this.kinds.has(kind)) return 'drop';
    if (this.changeTypes && !(h && this.changeTypes.has(h.changeType))) return 'drop';
    if (this.entities && !this.entities.has(entityOf(e))) return 'drop';
    if (this.changed && !(h && changedAny(this.changed, h))) return 'drop';
    if (this.originSuffix && h && fromClient(h.changeOrigin, this.originSuffix)) return 'drop';
    return this.expression ? 'ask' : 'pass';
  }

  /** The expression's verdict (JSONata truthiness); throws what the expression throws. */
  async ask(input: unknown): Promise<boolean> {
    return truthy(await (this.expression as Compiled).evaluate(input));
  }

  /** Whether the filter names a marker's kind: in `kinds`, or (gap, overflow) any change type of that kind. */
  private names(kind: string): boolean {
    if (this.kinds?.has(kind)) return true;
    if (!this.changeTypes) return false;
    for (const t of this.changeTypes) if (t === 'GAP_OVERFLOW' ? kind === 'overflow' : t.startsWith('GAP_') && kind === 'gap') return true;
    return false;
  }
}

/** The entity a filter's `entities` compares: the change header's, else a platform event's name. */
function entityOf(e: Envelope): string {
  if (e.changeHeader) return e.changeHeader.entity;
  return e.channel.startsWith('/event/') ? e.channel.slice('/event/'.length) : '';
}

/** Whether one of `names` changed (or was nulled); a compound name covers its parts (`Name` → `Name.FirstName`). */
function changedAny(names: readonly string[], h: NonNullable<Envelope['changeHeader']>): boolean {
  for (const list of [h.changedFields, h.nulledFields, h.diffFields])
    for (const f of list)
      for (const n of names) if (f === n || (f.length > n.length && f.startsWith(n) && f[n.length] === '.')) return true;
  return false;
}

/** Whether a changeOrigin (`com/salesforce/api/rest/63.0;client=sfbridge`) names the client: its `client=` option, matched exactly. */
function fromClient(origin: string | undefined, suffix: string): boolean {
  if (!origin) return false;
  const at = origin.indexOf(suffix);
  if (at < 0) return false;
  const next = origin[at + suffix.length];
  return next === undefined || next === ';' || next === ',';
}
