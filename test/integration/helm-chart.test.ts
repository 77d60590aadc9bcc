/**
 * deploy/helm/sfbridge rendered by a real Helm (scripts/helm.mjs): `helm lint` passes; every
 * rendered manifest validates against the Kubernetes API schemas (kubernetes-models), as the
 * kustomize ones do; HA on PostgreSQL with probes, non-root, read-only root, resources, a
 * PodDisruptionBudget, secrets from a Secret, a ServiceMonitor when asked, and --watch-config so a
 * ConfigMap change reloads without a restart; the mounted config is a valid sfbridge config; an
 * unknown value key is refused.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config-file.js';
import { tempDir } from '../helpers/tmp.js';

const root = join(import.meta.dirname, '..', '..');
const chart = join(root, 'deploy/helm/sfbridge');
const CI = process.env.CI === 'true' || process.env.CI === '1';

let helm: string | null = null;
let why = '';
try {
  // @ts-expect-error plain JS launcher shared with the docs
  const { ensureHelm } = await import('../../scripts/helm.mjs');
  helm = ensureHelm() as string;
} catch (err) {
  why = (err as Error).message;
  if (CI) throw new Error(`CI=true and the Helm chart tests cannot run: ${why}`);
}

const models: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function render(args: string[] = []): any[] {
  const out = execFileSync(helm as string, ['template', 'sfb', chart, ...args], { encoding: 'utf8' });
  return parseAllDocuments(out)
    .map((d) => d.toJS())
    .filter(Boolean);
}

describe.skipIf(!helm)(`Helm chart ${why}`, () => {
  beforeAll(() => {
    expect(spawnSync(helm as string, ['lint', chart], { encoding: 'utf8' }).status).toBe(0);
  });

  it('renders manifests that validate against the Kubernetes schemas, with what an HA deployment needs', () => {
    const docs = render(['--set', 'serviceMonitor.enabled=true']);
    for (const doc of docs.filter((d) => d.kind !== 'ServiceMonitor')) {
      const Model = models[`${doc.apiVersion}/${doc.kind}`];
      expect(Model, `a known kind (${doc.apiVersion} ${doc.kind})`).toBeDefined();
      expect(() => new (Model as new (d: unknown) => { validate(): void })(doc).validate(), doc.kind).not.toThrow();
    }
    const sts = docs.find((d) => d.kind === 'StatefulSet');
    expect(sts.spec.replicas).toBe(2);
    const pod = sts.spec.template.spec;
    const c = pod.containers[0];
    expect(c.args).toEqual(['run', '-c', '/config/bridge.yaml', '--watch-config']);
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources.requests.cpu).toBeDefined();
    expect(c.envFrom[0].secretRef.name).toBe('sfbridge-secrets');
    const pdb = docs.find((d) => d.kind === 'PodDisruptionBudget');
    expect(pdb.spec.selector.matchLabels).toEqual(sts.spec.selector.matchLabels);
    const sm = docs.find((d) => d.kind === 'ServiceMonitor');
    expect(sm).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1', spec: { endpoints: [{ port: 'http', path: '/metrics' }] } });
    expect(sm.spec.selector.matchLabels).toEqual(sts.spec.selector.matchLabels);
    const cm = docs.find((d) => d.kind === 'ConfigMap');
    const config = parseConfig(cm.data['bridge.yaml'], 'configmap', {
      SF_LOGIN_URL: 'https://example.my.salesforce.com',
      SF_CLIENT_ID: 'id',
      SF_CLIENT_SECRET: 'secret',
      DATABASE_URL: 'postgres://u:p@db:5432/sfbridge',
      POD_NAME: 'sfb-0',
    });
    expect(config.replayStore.type).toBe('postgres');
    expect(config.ha).toMatchObject({ enabled: true, instanceId: 'sfb-0' });
    expect(config.health?.port).toBe(c.ports[0].containerPort);
    expect(config.health?.routesApi).toBe('read-only');
    expect(docs.some((d) => d.kind === 'Secret')).toBe(false);
  });

  it('takes a values file (one replica on the file store, no budget, no monitor)', () => {
    const dir = tempDir();
    const values = join(dir, 'values.yaml');
    writeFileSync(values, 'replicaCount: 1\nreplayStore: { type: file }\npodDisruptionBudget: { enabled: false }\nroutesApi: writable\n');
    const docs = render(['-f', values]);
    expect(docs.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'Service', 'ServiceAccount', 'StatefulSet']);
    const cm = docs.find((d) => d.kind === 'ConfigMap');
    const config = parseConfig(cm.data['bridge.yaml'], 'configmap', {
      SF_LOGIN_URL: 'https://x.my.salesforce.com',
      SF_CLIENT_ID: 'i',
      SF_CLIENT_SECRET: 's',
    });
    expect(config.replayStore.type).toBe('file');
    expect(config.ha).toBeUndefined();
    expect(config.health?.routesApi).toBe('writable');
  });

  it('refuses unknown keys and settings the chart owns, naming them', () => {
    const r = spawnSync(helm as string, ['template', 'sfb', chart, '--set', 'replicas=3'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Additional property replicas is not allowed/);
    const owned = spawnSync(helm as string, ['template', 'sfb', chart, '--set', 'config.health.port=9'], { encoding: 'utf8' });
    expect(owned.status).not.toBe(0);
    expect(owned.stderr).toMatch(/config/);
  });
});
