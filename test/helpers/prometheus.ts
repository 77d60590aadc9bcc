/** Reading a Prometheus text exposition in tests. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = (l[2] as string).replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples named `name` whose labels include `where`; null when none. */
export function sampleValue(samples: Sample[], name: string, where: Record<string, string> = {}): number | null {
  const hits = samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v));
  return hits.length === 0 ? null : hits.reduce((a, s) => a + s.value, 0);
}

/** Metric family names in an exposition (histogram series map to their family). */
export function familyNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) /gm)) names.add(m[1] as string);
  return names;
}
