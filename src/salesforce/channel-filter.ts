/**
 * The syntax of a channel member's filter expression (PlatformEventChannelMember.filterExpression),
 * as Salesforce documents it ("Filter Expression Format" in the Change Data Capture and Platform
 * Events developer guides): field expressions `<Field> <op> <value>` joined by AND / OR, with
 * parentheses; operators =, !=, >, <, >=, <=, LIKE, IN, NOT IN; text values in single quotes;
 * numbers, true/false, null, dates (2026-11-03), dateTimes (2021-11-03T09:30:11-08:00) and times
 * with Z (14:30:00Z) unquoted; `ChangeEventHeader.<field>` except its array fields; compound
 * fields by their parts (`BillingAddress.City`). `sfbridge check` refuses anything else before
 * Salesforce does, with where and why. Field names are not checked against the org here.
 */

const OPS = ['=', '!=', '>', '<', '>=', '<='];
const HEADER_ARRAYS = new Set(['recordids', 'nulledfields', 'difffields', 'changedfields']);

type Tok = { k: 'word' | 'text' | 'op' | '(' | ')' | ','; v: string; at: number };

class FilterSyntaxError extends Error {}

function tokens(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i + 1;
    if (c === "'") {
      let j = i + 1;
      let v = '';
      while (j < s.length && s[j] !== "'") {
        if (s[j] === '\\' && j + 1 < s.length) j++;
        v += s[j];
        j++;
      }
      if (j >= s.length) throw new FilterSyntaxError(`a text value opened at character ${at} has no closing quote`);
      out.push({ k: 'text', v, at });
      i = j + 1;
    } else if (c === '(' || c === ')' || c === ',') {
      out.push({ k: c, v: c, at });
      i++;
    } else if (/[<>!=]/.test(c)) {
      const m = /^(<=|>=|!=|=|<|>)/.exec(s.slice(i));
      if (!m) throw new FilterSyntaxError(`"${c}" at character ${at} is not an operator (use =, !=, >, <, >=, <=)`);
      out.push({ k: 'op', v: m[0], at });
      i += m[0].length;
    } else {
      const m = /^[A-Za-z0-9_.:+-]+/.exec(s.slice(i));
      if (!m) throw new FilterSyntaxError(`unexpected "${c}" at character ${at}`);
      out.push({ k: 'word', v: m[0], at });
      i += m[0].length;
    }
  }
  return out;
}

const VALUE_WORD = [
  /^-?\d+(\.\d+)?$/, // number
  /^(true|false|null)$/i,
  /^\d{4}-\d{2}-\d{2}$/, // date
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$/, // dateTime
  /^\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/, // time (the Z is required)
];

/** Why `expr` is not a valid channel filter expression, or null when it is. */
export function channelFilterProblem(expr: string): string | null {
  try {
    const toks = tokens(expr);
    if (toks.length === 0) return 'the filter expression is empty';
    new FilterParser(toks).parse();
    return null;
  } catch (err) {
    if (err instanceof FilterSyntaxError) return err.message;
    throw err;
  }
}

/** Recursive descent over the documented grammar: disjunction of conjunctions of comparisons or (…). */
class FilterParser {
  private p = 0;
  constructor(private readonly toks: Tok[]) {}

  parse(): void {
    this.disjunction();
    if (this.p < this.toks.length) this.fail('AND, OR or the end');
  }

  private next(): Tok | undefined {
    return this.toks[this.p];
  }

  private isWord(w: string): boolean {
    const t = this.next();
    return t?.k === 'word' && t.v.toUpperCase() === w;
  }

  private fail(what: string): never {
    const t = this.next();
    throw new FilterSyntaxError(t ? `expected ${what} at character ${t.at}, found "${t.v}"` : `expected ${what} at the end`);
  }

  private disjunction(): void {
    this.conjunction();
    while (this.isWord('OR')) {
      this.p++;
      this.conjunction();
    }
  }

  private conjunction(): void {
    this.primary();
    while (this.isWord('AND')) {
      this.p++;
      this.primary();
    }
  }

  private primary(): void {
    if (this.next()?.k === '(') {
      this.p++;
      this.disjunction();
      if (this.next()?.k !== ')') this.fail(')');
      this.p++;
      return;
    }
    if (this.isWord('NOT')) this.fail('a field expression (NOT is not an operator of channel filters; use != or NOT IN)');
    this.comparison();
  }

  private comparison(): void {
    this.field();
    if (this.next()?.k === 'op') {
      this.p++;
      this.value();
      return;
    }
    if (this.isWord('LIKE')) {
      this.p++;
      if (this.next()?.k !== 'text') this.fail('a text value in single quotes after LIKE');
      this.p++;
      return;
    }
    if (this.isWord('NOT')) {
      this.p++;
      if (!this.isWord('IN')) this.fail('IN after NOT');
    }
    if (!this.isWord('IN')) this.fail(`an operator (${OPS.join(' ')} LIKE IN NOT IN)`);
    this.p++;
    if (this.next()?.k !== '(') this.fail('( after IN');
    this.p++;
    this.value();
    while (this.next()?.k === ',') {
      this.p++;
      this.value();
    }
    if (this.next()?.k !== ')') this.fail(') to close the IN list');
    this.p++;
  }

  private field(): void {
    const t = this.next();
    if (
      t?.k !== 'word' ||
      !/^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$/.test(t.v) ||
      ['AND', 'OR', 'NOT'].includes(t.v.toUpperCase())
    )
      this.fail('a field name');
    const [head, sub] = t.v.split('.');
    if (head?.toLowerCase() === 'changeeventheader' && sub && HEADER_ARRAYS.has(sub.toLowerCase()))
      throw new FilterSyntaxError(`${t.v} is an array field of the change event header; filters cannot use it`);
    this.p++;
  }

  private value(): void {
    const t = this.next();
    if (t?.k === 'text' || (t?.k === 'word' && VALUE_WORD.some((r) => r.test(t.v)))) {
      this.p++;
      return;
    }
    if (t?.k === 'word' && /^\d{2}:\d{2}:\d{2}/.test(t.v))
      throw new FilterSyntaxError(`the time ${t.v} at character ${t.at} needs the UTC designator Z`);
    if (t?.k === 'word' && !/^\d/.test(t.v))
      throw new FilterSyntaxError(`${t.v} at character ${t.at} is not a value: text values go in single quotes ('${t.v}')`);
    this.fail('a value');
  }
}
