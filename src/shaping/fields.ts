/**
 * Field selection and masking on an envelope's payload, without JSONata: names are payload keys,
 * a dotted name reaches into a compound field (`BillingAddress.City`). Values are never changed in
 * place: the payload may be shared with other sinks of the route, so every step copies.
 */

export const MASK = '[masked]';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Split dotted names into a tree: `['A', 'B.C']` → { A: true, B: { C: true } }. */
export interface PathTree {
  [k: string]: true | PathTree;
}
export function pathTree(names: readonly string[]): PathTree {
  const root: PathTree = {};
  for (const name of names) {
    const parts = name.split('.');
    let node = root;
    parts.forEach((p, i) => {
      if (i === parts.length - 1) node[p] = true;
      else {
        const next = node[p];
        if (next === true) return; // the whole field is already named
        node[p] = next ?? {};
        node = node[p] as PathTree;
      }
    });
  }
  return root;
}

/** Only the named fields (and named parts of compound fields). */
export function includeFields(v: unknown, tree: PathTree): unknown {
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, sub] of Object.entries(tree)) {
    if (!Object.hasOwn(v, k)) continue;
    out[k] = sub === true ? v[k] : includeFields(v[k], sub);
  }
  return out;
}

/** Everything but the named fields. */
export function excludeFields(v: unknown, tree: PathTree): unknown {
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, val] of Object.entries(v)) {
    const sub = tree[k];
    if (sub === true) continue;
    out[k] = sub ? excludeFields(val, sub) : val;
  }
  return out;
}

/** The named fields' values replaced by MASK (absent and null values stay as they are: they reveal nothing). */
export function maskFields(v: unknown, tree: PathTree): unknown {
  if (!isObj(v)) return v;
  const out: Obj = { ...v };
  for (const [k, sub] of Object.entries(tree)) {
    if (!Object.hasOwn(v, k) || v[k] === null || v[k] === undefined) continue;
    out[k] = sub === true ? MASK : maskFields(v[k], sub);
  }
  return out;
}
