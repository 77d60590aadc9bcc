/**
 * A Salesforce sink's `mapping`: a JSONata expression from the envelope to the fields to write
 * (`'{ "OrderNumber__c": payload.order }'`). Without one, the payload's own fields are written.
 * Compiled once per expression (the shaping cache); a result that is not an object, or an
 * expression that throws, is that event's rejection with the reason.
 */
import { type Envelope, JsonPayload, payloadValue } from '../envelope.js';
import { type Compiled, compileExpression, expressionMessage } from '../shaping/expression.js';

export type Mapped = { fields: Record<string, unknown> } | { error: string };

export class FieldMapping {
  private readonly expr: Compiled | null;
  /** The common shape `{ "Field": a.b.c, "Other": "literal" }` read directly, without JSONata's evaluator. */
  private readonly direct: Direct | null;

  constructor(text: string | undefined) {
    this.expr = text ? compileExpression(text) : null;
    this.direct = this.expr ? directMapping(this.expr.ast()) : null;
  }

  /** The mapped fields without waiting, when the direct reader can give them (else null: use `map`). */
  mapNow(e: Envelope): Mapped | null {
    if (!this.expr) return this.map0(payloadValue(e));
    const fast = this.direct?.(e);
    return fast && fast !== FALLBACK ? { fields: fast } : null;
  }

  async map(e: Envelope): Promise<Mapped> {
    const now = this.mapNow(e);
    if (now) return now;
    try {
      // A payload still held as JSON text is parsed for the expression; otherwise the envelope goes as it is.
      const input = e.payload instanceof JsonPayload ? { ...e, payload: payloadValue(e) } : e;
      return this.map0(await (this.expr as Compiled).evaluate(input));
    } catch (err) {
      return { error: `mapping failed: ${expressionMessage(err)}` };
    }
  }

  private map0(out: unknown): Mapped {
    if (!out || typeof out !== 'object' || Array.isArray(out))
      return {
        error: `mapping gave ${out === undefined ? 'nothing' : Array.isArray(out) ? 'an array' : typeof out}, not an object of fields`,
      };
    return { fields: out as Record<string, unknown> };
  }
}

const FALLBACK = Symbol('evaluate with JSONata');
type Direct = (e: Envelope) => Record<string, unknown> | typeof FALLBACK;
type Node = { type: string; value?: unknown; steps?: Node[]; lhs?: Node[][] } & Record<string, unknown>;

/** A step that is a bare field name (no predicate, stage, index or focus). */
function plainName(n: Node): string | null {
  if (n.type !== 'name' || typeof n.value !== 'string') return null;
  return Object.keys(n).every((k) => k === 'type' || k === 'value' || k === 'position') ? n.value : null;
}

/**
 * A reader for an object constructor whose values are literals or plain paths. At run time a path
 * that meets an array (where JSONata would map over it) gives FALLBACK, and JSONata evaluates the
 * event, so the result is always JSONata's.
 */
function directMapping(ast: unknown): Direct | null {
  const root = ast as Node;
  if (root.type !== 'unary' || root.value !== '{' || !Array.isArray(root.lhs)) return null;
  const parts: Array<{ key: string; literal?: unknown; path?: string[] }> = [];
  for (const pair of root.lhs) {
    const [k, v] = pair as [Node, Node];
    if (k?.type !== 'string' || typeof k.value !== 'string' || !v) return null;
    if ((v.type === 'string' || v.type === 'number') && Object.keys(v).every((x) => x === 'type' || x === 'value' || x === 'position'))
      parts.push({ key: k.value, literal: v.value });
    else if (v.type === 'path' && Array.isArray(v.steps) && v.steps.length > 0) {
      const names = v.steps.map(plainName);
      if (
        names.some((n) => n === null) ||
        Object.keys(v).some((x) => x !== 'type' && x !== 'steps' && x !== 'position' && x !== 'keepSingletonArray')
      )
        return null;
      if (v.keepSingletonArray) return null;
      parts.push({ key: k.value, path: names as string[] });
    } else return null;
  }
  return (e) => {
    const out: Record<string, unknown> = {};
    for (const p of parts) {
      if (!p.path) {
        out[p.key] = p.literal;
        continue;
      }
      let cur: unknown = p.path[0] === 'payload' ? payloadValue(e) : (e as unknown as Record<string, unknown>)[p.path[0] as string];
      for (let i = 1; i < p.path.length && cur !== undefined; i++) {
        if (cur === null || typeof cur !== 'object') cur = undefined;
        else if (Array.isArray(cur)) return FALLBACK;
        else cur = (cur as Record<string, unknown>)[p.path[i] as string];
      }
      if (Array.isArray(cur) || (cur !== null && typeof cur === 'object')) return FALLBACK;
      if (cur !== undefined) out[p.key] = cur;
    }
    return out;
  };
}
