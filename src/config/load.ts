/** Read, interpolate and validate a config file; every problem becomes one line of a ConfigError. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { formatIssues, type KnownKeys } from './errors.js';
import { interpolate } from './interpolate.js';
import { type BridgeConfig, configSchema, type RouteConfig } from './schema.js';

export interface LoadedConfig {
  path: string;
  config: BridgeConfig;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const full = resolve(path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError([`${path}: cannot read config file (${why})`]);
  }
  return { path: full, config: parseConfig(text, full, env) };
}

export function parseConfig(text: string, path: string, env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    // Report the first syntax error only: later ones are usually consequences of it.
    const pos = lineCounter.linePos(first.pos[0]);
    const where = pos ? `${path}:${pos.line}:${pos.col}` : path;
    const line = pos ? (text.split('\n')[pos.line - 1] ?? '') : '';
    const quoteHint = line.includes('${') ? ' (inside { } or [ ], quote values that use ${...})' : '';
    throw new ConfigError([`${where}: YAML syntax error: ${first.message.split('\n')[0]}${quoteHint}`]);
  }
  const raw = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([`${path}: the config must be a YAML mapping (with at least \`routes:\`)`]);
  }
  const problems: string[] = [];
  const interpolated = interpolate(raw, env, dirname(path), problems);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${path}: ${p}`));

  const result = configSchema.safeParse(interpolated);
  if (!result.success) {
    const lines = formatIssues(result.error.issues, interpolated, knownKeysAt);
    throw new ConfigError(lines.map((l) => `${path}: ${l}`));
  }
  const config = result.data;
  const semantic = checkSemantics(config);
  if (semantic.length > 0) throw new ConfigError(semantic.map((l) => `${path}: ${l}`));
  return config;
}

/** The subscription key of a route: its name, else its source's channel or path. */
export function routeKey(route: RouteConfig): string {
  if (route.name) return route.name;
  const s = route.source as Record<string, unknown>;
  return String(s.topic ?? s.channel ?? s.path ?? route.source.type);
}

function checkSemantics(config: BridgeConfig): string[] {
  const out: string[] = [];
  if (config.ha?.enabled && config.replayStore.type !== 'redis' && config.replayStore.type !== 'postgres') {
    out.push(`ha.enabled: needs replayStore.type redis or postgres (leases live there), not ${config.replayStore.type}`);
  }
  const seen = new Map<string, number>();
  config.routes.forEach((r, i) => {
    const key = routeKey(r);
    const prev = seen.get(key);
    if (prev !== undefined) {
      out.push(`routes[${i}].name: duplicate subscription key "${key}" (also routes[${prev}]); give each route a unique name`);
    } else {
      seen.set(key, i);
    }
    r.sinks.forEach((sk, j) => {
      if (sk.type === 'kafka' && (sk as { exactlyOnce?: boolean }).exactlyOnce) {
        if (config.replayStore.type !== 'kafka')
          out.push(
            `routes[${i}].sinks[${j}].exactlyOnce: needs replayStore.type kafka (the checkpoint is written in the same Kafka transaction)`,
          );
        if (r.sinks.length > 1)
          out.push(
            `routes[${i}].sinks[${j}].exactlyOnce: the exactly-once Kafka sink must be the route's only sink (its checkpoint must not run ahead of other sinks)`,
          );
      }
    });
    const org = (r.source as { org?: string }).org;
    if (org !== undefined && !(org in config.orgs)) {
      const known = Object.keys(config.orgs);
      out.push(
        `routes[${i}].source.org: unknown org "${org}"; ${known.length ? `defined orgs: ${known.join(', ')}` : 'no orgs are defined under `orgs:`'}`,
      );
    }
  });
  return out;
}

/** Keys the schema allows at a path (for "did you mean" hints on unknown keys). */
const knownKeysAt: KnownKeys = (path) => {
  let schema: z.ZodType | undefined = configSchema;
  for (const p of path) {
    schema = unwrap(schema);
    if (!schema) return [];
    if (schema instanceof z.ZodObject) schema = schema.shape[p as string] as z.ZodType | undefined;
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else if (schema instanceof z.ZodRecord) schema = schema.valueType as z.ZodType;
    else return [];
  }
  schema = unwrap(schema);
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
  if (schema instanceof z.ZodDiscriminatedUnion) {
    return [...new Set((schema.options as z.ZodObject[]).flatMap((o) => Object.keys(o.shape)))];
  }
  return [];
};

function unwrap(s: z.ZodType | undefined): z.ZodType | undefined {
  let cur = s;
  for (let i = 0; i < 5 && cur; i++) {
    if (cur instanceof z.ZodDefault || cur instanceof z.ZodOptional || cur instanceof z.ZodNullable) {
      cur = cur.unwrap() as z.ZodType;
    } else break;
  }
  return cur;
}
