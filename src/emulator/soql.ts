/**
 * A small SOQL subset, enough for PushTopic queries, REST /query and Bulk API query jobs:
 * `SELECT f1, f2 FROM Object [WHERE cond] [LIMIT n]`, with =, !=, <>, <, <=, >, >=, LIKE, IN,
 * AND, OR, NOT and parentheses; literals are 'strings', numbers, dateTimes (2026-11-29T10:00:00Z),
 * true, false and null.
 */
export interface Query {
  fields: string[];
  object: string;
  where: Cond | null;
  limit: number | null;
}

export type Cond =
  | { op: 'and' | 'or'; left: Cond; right: Cond }
  | { op: 'not'; cond: Cond }
  | { op: 'cmp'; field: string; cmp: string; value: unknown };

export class SoqlError extends Error {}

type Tok = { t: 'id' | 'str' | 'num' | 'op' | 'punc'; v: string };

function tokenize(q: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let s = '';
      i++;
      while (i < q.length && q[i] !== "'") {
        if (q[i] === '\\' && i + 1 < q.length) i++;
        s += q[i];
        i++;
      }
      if (i >= q.length) throw new SoqlError('unterminated string literal');
      i++;
      out.push({ t: 'str', v: s });
    } else if (/^\d{4}-\d{2}-\d{2}T/.test(q.slice(i, i + 11))) {
      // A dateTime literal (2026-11-29T10:00:00Z, .000Z or +01:00): compared as epoch ms.
      const m = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})/.exec(q.slice(i));
      if (!m || Number.isNaN(Date.parse(m[0]))) throw new SoqlError(`invalid dateTime literal at "${q.slice(i, i + 25)}"`);
      out.push({ t: 'num', v: String(Date.parse(m[0])) });
      i += m[0].length;
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(q[i + 1] ?? ''))) {
      const m = /^-?\d+(\.\d+)?/.exec(q.slice(i));
      if (!m) throw new SoqlError(`unexpected "${c}"`);
      out.push({ t: 'num', v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(q.slice(i)) as RegExpExecArray;
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else if (/[<>!=]/.test(c)) {
      const m = /^(<=|>=|!=|<>|=|<|>)/.exec(q.slice(i));
      if (!m) throw new SoqlError(`unexpected "${c}"`);
      out.push({ t: 'op', v: m[0] });
      i += m[0].length;
    } else if (c === ',' || c === '(' || c === ')') {
      out.push({ t: 'punc', v: c });
      i++;
    } else {
      throw new SoqlError(`unexpected character "${c}"`);
    }
  }
  return out;
}

export function parseSoql(text: string): Query {
  const toks = tokenize(text);
  let p = 0;
  const peek = () => toks[p];
  const kw = (w: string) => {
    const t = toks[p];
    if (t?.t === 'id' && t.v.toUpperCase() === w) {
      p++;
      return true;
    }
    return false;
  };
  const expectId = (what: string) => {
    const t = toks[p++];
    if (t?.t !== 'id') throw new SoqlError(`expected ${what}`);
    return t.v;
  };
  if (!kw('SELECT')) throw new SoqlError('query must start with SELECT');
  const fields = [expectId('a field name')];
  while (peek()?.v === ',') {
    p++;
    fields.push(expectId('a field name'));
  }
  if (!kw('FROM')) throw new SoqlError('expected FROM');
  const object = expectId('an object name');
  let where: Cond | null = null;
  let limit: number | null = null;

  const literal = (): unknown => {
    const t = toks[p++];
    if (!t) throw new SoqlError('expected a value');
    if (t.t === 'str') return t.v;
    if (t.t === 'num') return Number(t.v);
    if (t.t === 'id') {
      const u = t.v.toLowerCase();
      if (u === 'true') return true;
      if (u === 'false') return false;
      if (u === 'null') return null;
    }
    throw new SoqlError(`unexpected "${t.v}" where a value was expected`);
  };
  const primary = (): Cond => {
    if (peek()?.v === '(') {
      p++;
      const c = orExpr();
      if (toks[p++]?.v !== ')') throw new SoqlError('missing )');
      return c;
    }
    if (kw('NOT')) return { op: 'not', cond: primary() };
    const field = expectId('a field name');
    const t = toks[p];
    if (t?.t === 'op') {
      p++;
      return { op: 'cmp', field, cmp: t.v === '<>' ? '!=' : t.v, value: literal() };
    }
    if (kw('LIKE')) return { op: 'cmp', field, cmp: 'like', value: literal() };
    const negated = kw('NOT');
    if (negated && peek()?.v.toUpperCase() !== 'IN') throw new SoqlError(`expected IN after ${field} NOT`);
    if (kw('IN')) {
      if (toks[p++]?.v !== '(') throw new SoqlError('expected ( after IN');
      const vals = [literal()];
      while (peek()?.v === ',') {
        p++;
        vals.push(literal());
      }
      if (toks[p++]?.v !== ')') throw new SoqlError('missing ) after IN list');
      const inList: Cond = { op: 'cmp', field, cmp: 'in', value: vals };
      return negated ? { op: 'not', cond: inList } : inList;
    }
    throw new SoqlError(`expected a comparison after ${field}`);
  };
  const andExpr = (): Cond => {
    let left = primary();
    while (kw('AND')) left = { op: 'and', left, right: primary() };
    return left;
  };
  function orExpr(): Cond {
    let left = andExpr();
    while (kw('OR')) left = { op: 'or', left, right: andExpr() };
    return left;
  }
  if (kw('WHERE')) where = orExpr();
  if (kw('ORDER')) throw new SoqlError('ORDER BY is not supported here');
  if (kw('LIMIT')) {
    const n = literal();
    if (typeof n !== 'number') throw new SoqlError('LIMIT needs a number');
    limit = n;
  }
  if (p < toks.length) throw new SoqlError(`unexpected "${toks[p]?.v}"`);
  return { fields, object, where, limit };
}

/** A WHERE condition on its own (a channel member's filter expression). */
export function parseCondition(text: string): Cond {
  const q = parseSoql(`SELECT Id FROM Event WHERE ${text}`);
  if (!q.where || q.limit !== null) throw new SoqlError('not a condition');
  return q.where;
}

/** Fields a condition reads. */
export function condFields(c: Cond | null, out: Set<string> = new Set()): Set<string> {
  if (!c) return out;
  if (c.op === 'cmp') out.add(c.field);
  else if (c.op === 'not') condFields(c.cond, out);
  else {
    condFields(c.left, out);
    condFields(c.right, out);
  }
  return out;
}

/** `fold`: compare text case-insensitively (channel filters: "Text values are case-insensitive"). */
export function matches(c: Cond | null, get: (field: string) => unknown, fold = false): boolean {
  if (!c) return true;
  switch (c.op) {
    case 'and':
      return matches(c.left, get, fold) && matches(c.right, get, fold);
    case 'or':
      return matches(c.left, get, fold) || matches(c.right, get, fold);
    case 'not':
      return !matches(c.cond, get, fold);
    case 'cmp': {
      const low = (x: unknown) => (fold && typeof x === 'string' ? x.toLowerCase() : x);
      const v = low(get(c.field) ?? null);
      const w = Array.isArray(c.value) ? c.value.map(low) : low(c.value);
      switch (c.cmp) {
        case '=':
          return v === w;
        case '!=':
          return v !== w;
        case 'in':
          return (w as unknown[]).includes(v);
        case 'like': {
          if (typeof v !== 'string' || typeof w !== 'string') return false;
          const re = new RegExp(
            `^${w
              .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
              .replace(/%/g, '.*')
              .replace(/_/g, '.')}$`,
            'i',
          );
          return re.test(v);
        }
        default: {
          if (v === null || w === null) return false;
          const a = v as number | string;
          const b = w as number | string;
          return c.cmp === '<' ? a < b : c.cmp === '<=' ? a <= b : c.cmp === '>' ? a > b : a >= b;
        }
      }
    }
  }
}
