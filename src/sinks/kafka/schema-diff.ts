/**
 * Which payload fields differ between two versions of an envelope schema (Avro or JSON Schema),
 * to name them when a registry refuses a version: added, removed, or typed differently.
 */
type Json = Record<string, unknown>;

export function fieldDifferences(theirsText: string, oursText: string): string[] {
  const theirs = payloadFields(theirsText);
  const ours = payloadFields(oursText);
  if (!theirs || !ours) return [];
  const out: string[] = [];
  for (const [name, t] of ours) {
    const o = theirs.get(name);
    if (o === undefined) out.push(`${name} (added)`);
    else if (o !== t) out.push(`${name} (${o} in the registry, ${t} here)`);
  }
  for (const name of theirs.keys()) if (!ours.has(name)) out.push(`${name} (removed)`);
  return out;
}

/** The payload record's fields (name -> type text) of an envelope schema, or of any record schema. */
function payloadFields(text: string): Map<string, string> | null {
  let s: Json;
  try {
    s = JSON.parse(text) as Json;
  } catch {
    return null;
  }
  if (s.type === 'record') {
    const fields = s.fields as Array<{ name: string; type: unknown }>;
    const payload = fields.find((f) => f.name === 'payload');
    const rec = Array.isArray(payload?.type) ? (payload.type as Json[]).find((b) => typeof b === 'object' && b.type === 'record') : null;
    const list = (rec?.fields as Array<{ name: string; type: unknown }> | undefined) ?? (payload ? [] : fields);
    return new Map(list.map((f) => [f.name, typeText(f.type)]));
  }
  const props = ((s.properties as Json | undefined)?.payload as Json | undefined)?.properties as Json | undefined;
  return props ? new Map(Object.entries(props).map(([k, v]) => [k, typeText(v)])) : null;
}

/** A type as text; named types by their short name (registries may give them fully qualified). */
function typeText(t: unknown): string {
  if (typeof t === 'string') return t.split('.').pop() as string;
  if (Array.isArray(t)) return t.map(typeText).join('|');
  const o = t as Json;
  if (o.type === 'record' || (o.type === 'object' && o.properties))
    return String(o.name ?? o.title ?? 'record')
      .split('.')
      .pop() as string;
  if (o.type !== undefined) return typeText(o.type);
  return JSON.stringify(o);
}
