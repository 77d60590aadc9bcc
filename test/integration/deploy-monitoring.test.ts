/**
 * deploy/prometheus/alerts.yaml and deploy/grafana/sfbridge.json: every rule and panel query
 * parses as PromQL (Prometheus's own Lezer grammar), the rule file has the shape Prometheus
 * loads, and every metric they use is served by a live bridge's /metrics.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { emulatorOrg, makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { familyNames } from '../helpers/prometheus.js';
import { tempDir } from '../helpers/tmp.js';

const root = join(import.meta.dirname, '..', '..');

/** The metric names a PromQL expression selects; throws with the position of a syntax error. */
function metricsOf(expr: string, where: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  const c = tree.cursor();
  do {
    if (c.type.isError) throw new Error(`${where}: PromQL syntax error at ${c.from} in: ${expr}`);
    if (c.name === 'VectorSelector') {
      const id = c.node.getChild('Identifier');
      if (id) names.push(expr.slice(id.from, id.to));
    }
  } while (c.next());
  return names;
}

/** Grafana's variables, replaced by values PromQL accepts. */
const grafana = (expr: string) => expr.replaceAll('$__rate_interval', '5m');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

describe('alert rules and dashboard', () => {
  let t: TestEmulator;
  let served: Set<string>;
  beforeAll(async () => {
    t = await startEmulator();
    const dir = tempDir();
    const { bridge } = makeBridge(
      t,
      dir,
      [
        {
          name: 'acc',
          source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent' },
          sinks: [{ type: 'file', dir: join(dir, 'out') }],
        },
      ],
      { orgs: { emu: { ...emulatorOrg(t), limits: { poll: 100 } } } },
    );
    await bridge.start();
    try {
      await until(() => bridge.orgs.limits()[0]?.polledAt != null, 10_000, 'first limits poll');
      served = familyNames(await bridge.metrics.render());
    } finally {
      await bridge.stop();
    }
  });
  afterAll(async () => t?.stop());

  const exists = (name: string) =>
    served.has(name) || ['_bucket', '_count', '_sum'].some((s) => name.endsWith(s) && served.has(name.slice(0, -s.length)));

  it('alerts.yaml: Prometheus rule groups whose queries parse and use served metrics', () => {
    const doc = parseYaml(readFileSync(join(root, 'deploy/prometheus/alerts.yaml'), 'utf8')) as {
      groups: Array<{ name: string; rules: Rule[] }>;
    };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'SfbridgeRouteDown',
        'SfbridgeLagHigh',
        'SfbridgeRetentionHeadroomLow',
        'SfbridgeDeadLettersGrowing',
        'SfbridgeSalesforceLimitHigh',
        'SfbridgeCommitsFailing',
      ]),
    );
    for (const r of rules) {
      expect(r.alert, 'alert name').toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
      expect(['critical', 'warning', 'info']).toContain(r.labels.severity);
      expect(r.annotations.summary.length).toBeGreaterThan(10);
      if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smhd]$/);
      const used = metricsOf(r.expr, r.alert);
      expect(used.length, `${r.alert} selects a metric`).toBeGreaterThan(0);
      for (const m of used) expect(exists(m), `${r.alert}: ${m} is served by /metrics`).toBe(true);
    }
  });

  it('sfbridge.json: a Grafana dashboard whose queries parse and use served metrics', () => {
    const dash = JSON.parse(readFileSync(join(root, 'deploy/grafana/sfbridge.json'), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
      templating: { list: Array<{ name: string; query: string }> };
    };
    expect(dash.panels.map((p) => p.title).join(' | ')).toMatch(/received.*Lag.*headroom.*latency.*Errors.*limits/is);
    for (const p of dash.panels) {
      for (const target of p.targets) {
        for (const m of metricsOf(grafana(target.expr), p.title)) expect(exists(m), `${p.title}: ${m} is served by /metrics`).toBe(true);
      }
    }
    for (const v of dash.templating.list) {
      const m = /^label_values\((\w+),/.exec(v.query);
      if (m) expect(exists(m[1] as string), `variable ${v.name}: ${m[1]}`).toBe(true);
    }
  });
});
