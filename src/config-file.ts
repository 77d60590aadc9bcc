/** Read, interpolate and validate a config file; every problem becomes one line of a ConfigError. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, type Node, parseDocument, visit } from 'yaml';
import { z } from 'zod';
import { formatIssues, formatPath, type KnownKeys } from './config/errors.js';
import { interpolate } from './config/interpolate.js';
import type { BridgeConfig, OrgConfig, RouteConfig, ShapingConfig } from './config/schema.js';
import { ConfigError } from './errors.js';
import { registerUrlSecrets } from './log.js';
import { configSchema, replayStoreTypes, sinkTypes, subscriberTypes } from './registry.js';
import { routeKey, sourceFacts } from './route-facts.js';
import { channelFilterProblem } from './salesforce/channel-filter.js';
import { expressionProblem } from './shaping/expression.js';

/**
 * Larger than any config a person writes, large enough for a generated one of 10,000 routes (about
 * 2 MB): anything beyond is a mistake or an attack (parse time and memory).
 */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** Keys that would reach Object.prototype machinery instead of being settings. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface LoadedConfig {
  path: string;
  config: BridgeConfig;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const full = resolve(path);
  let text: string;
  try {
    text = readCapped(full);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError([`${path}: cannot read config file (${why})`]);
  }
  return { path: full, config: parseConfig(text, full, env) };
}

/** Read at most MAX_CONFIG_BYTES (+1 to tell that there is more) without loading a huge file. */
function readCapped(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, MAX_CONFIG_BYTES) + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_CONFIG_BYTES || size > MAX_CONFIG_BYTES) throw tooLarge(path, Math.max(size, n));
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function tooLarge(path: string, bytes: number): ConfigError {
  return new ConfigError([`${path}: the config file is ${bytes} bytes; the limit is ${MAX_CONFIG_BYTES} (1 MiB). Is this the right file?`]);
}

export function parseConfig(text: string, path: string, env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw tooLarge(path, Buffer.byteLength(text));
  const lineCounter = new LineCounter();
  // uniqueKeys is checked below in one pass: the library's own check is quadratic in a mapping's keys.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const first = doc.errors[0];
  if (first) {
    // Report the first syntax error only: later ones are usually consequences of it.
    const pos = lineCounter.linePos(first.pos[0]);
    const where = pos ? `${path}:${pos.line}:${pos.col}` : path;
    const line = pos ? (text.split('\n')[pos.line - 1] ?? '') : '';
    const quoteHint = line.includes('${') ? ' (inside { } or [ ], quote values that use ${...})' : '';
    throw new ConfigError([`${where}: YAML syntax error: ${first.message.split('\n')[0]}${quoteHint}`]);
  }
  const keyProblems = checkKeys(doc.contents, lineCounter, path);
  if (keyProblems.length > 0) throw new ConfigError(keyProblems);
  let raw: unknown;
  try {
    // maxAliasCount bounds alias expansion (a "billion laughs" document).
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([
      `${path}: YAML aliases expand too much (${(err as Error).message.split('\n')[0]}); write the values out instead of nesting aliases`,
    ]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([`${path}: the config must be a YAML mapping (with at least \`routes:\`)`]);
  }
  const ctx = { env, baseDir: dirname(path), problems: [] as string[], substituted: new Set<string>() };
  const interpolated = interpolate(raw, ctx);
  if (ctx.problems.length > 0) throw new ConfigError(ctx.problems.map((p) => `${path}: ${p}`));

  const hidden = (p: ReadonlyArray<PropertyKey>) => ctx.substituted.has(formatPath(p));
  const result = configSchema.safeParse(interpolated);
  if (!result.success) {
    const lines = formatIssues(result.error.issues, interpolated, knownKeysAt, hidden);
    throw new ConfigError(lines.map((l) => `${path}: ${l}`));
  }
  const config = result.data;
  const semantic = configProblems(config, hidden);
  if (semantic.length > 0) throw new ConfigError(semantic.map((l) => `${path}: ${l}`));
  registerStringUrlSecrets(config);
  return config;
}

/**
 * A route sent to the route API (PUT /routes/<name>): the same schema as a route of the file, and
 * `${ENV}` references (registered as secrets), but no `${file:…}`: a caller of the API must not
 * read the bridge's files. Throws a ConfigError whose lines start with `route "<name>"`.
 */
export function parseRouteDefinition(raw: unknown, name: string, env: NodeJS.ProcessEnv = process.env): RouteConfig {
  const at = `route "${name}"`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError([`${at}: the body must be a JSON object (a route)`]);
  const given = (raw as { name?: unknown }).name;
  if (given !== undefined && given !== name)
    throw new ConfigError([`${at}: the body names the route "${String(given)}"; leave \`name\` out or use "${name}"`]);
  const ctx = { env, baseDir: process.cwd(), problems: [] as string[], substituted: new Set<string>(), files: false };
  const interpolated = interpolate({ routes: [{ ...raw, name }] }, ctx);
  if (ctx.problems.length > 0) throw new ConfigError(ctx.problems.map((p) => `${at}: ${p.replace(/^routes\[0\]\.?/, '')}`));
  const hidden = (p: ReadonlyArray<PropertyKey>) => ctx.substituted.has(formatPath(p));
  const result = configSchema.safeParse(interpolated);
  if (!result.success) {
    const lines = formatIssues(result.error.issues, interpolated, knownKeysAt, hidden);
    throw new ConfigError(lines.map((l) => `${at}: ${l.replace(/^routes\[0\]\.?/, '')}`));
  }
  const route = result.data.routes[0] as RouteConfig;
  registerStringUrlSecrets(route);
  return route;
}

/**
 * One pass over the YAML tree: duplicate keys in a mapping (linear, with a Set) and reserved keys
 * (`__proto__` would become the object's prototype and slip past the unknown-key check).
 */
function checkKeys(root: Node | null, lines: LineCounter, path: string): string[] {
  const out: string[] = [];
  const where = (n: Node | null | undefined) => {
    const pos = n?.range ? lines.linePos(n.range[0]) : undefined;
    return pos ? `${path}:${pos.line}:${pos.col}` : path;
  };
  visit(root, {
    Map(_key, map) {
      if (!isMap(map)) return;
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const k = isScalar(pair.key) ? pair.key.value : pair.key;
        if (typeof k === 'string' && RESERVED_KEYS.has(k)) {
          out.push(`${where(pair.key as Node)}: "${k}" is not allowed as a key (it is not a setting anywhere)`);
        }
        if (typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean' || k === null) {
          if (seen.has(k))
            out.push(`${where(pair.key as Node)}: YAML syntax error: Map keys must be unique ("${String(k)}" appears twice)`);
          seen.add(k);
        }
      }
    },
  });
  return out.slice(0, 20);
}

/** Passwords and secret query values written inline in any URL of the config are kept out of logs. */
function registerStringUrlSecrets(value: unknown, depth = 0): void {
  if (depth > 20) return;
  if (typeof value === 'string') {
    if (value.includes('://')) registerUrlSecrets(value);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) registerStringUrlSecrets(v, depth + 1);
  }
}

/** Two sources of one config that claim the same thing (e.g. a CometD channel of an org) clash. */
function sourceClashes(config: BridgeConfig): string[] {
  const out: string[] = [];
  const first = new Map<string, number>();
  config.routes.forEach((r, i) => {
    for (const { claim, why } of sourceFacts(r.source).exclusive) {
      const prev = first.get(claim);
      if (prev === undefined) first.set(claim, i);
      else out.push(`routes[${i}].source: routes[${prev}] already subscribes to ${claim}; ${why}`);
    }
  });
  return out;
}

/**
 * The checks a parsed config must pass beyond its schema (the ones that need several parts of
 * it). `sfbridge check` and `run` report them at load; a Bridge built from a config in code runs
 * them at start. Values that came from `${…}` are not shown (`hidden`).
 */
export function configProblems(config: BridgeConfig, hidden: (p: ReadonlyArray<PropertyKey>) => boolean = () => false): string[] {
  const show = (p: ReadonlyArray<PropertyKey>, v: string) => (hidden(p) ? '(a value from ${…}, not shown)' : `"${v}"`);
  const out: string[] = [];
  if (config.routes.length === 0 && config.health?.routesApi !== 'writable')
    out.push('routes: at least one route is needed (or health.routesApi: writable, to add them through the route API)');
  if (config.ha?.enabled && !replayStoreTypes[config.replayStore.type]?.leases) {
    const able = Object.entries(replayStoreTypes)
      .filter(([, r]) => r.leases)
      .map(([t]) => t);
    out.push(`ha.enabled: needs replayStore.type ${able.join(' or ')} (leases live there), not ${config.replayStore.type}`);
  }
  out.push(...sourceClashes(config));
  for (const [name, org] of Object.entries(config.orgs)) out.push(...channelProblems(org.channels, `orgs.${name}.channels`));
  const seen = new Map<string, number>();
  const claims = new Map<string, { at: string; route: string }>();
  config.routes.forEach((r, i) => {
    const facts = sourceFacts(r.source);
    const key = routeKey(r);
    const dupKey = seen.has(key); // reported below once, not again as a file clash
    const ctx = { config, route: { key, index: i, sinks: r.sinks.length } };
    for (const p of subscriberTypes[r.source.type]?.problems?.(r.source, ctx) ?? []) out.push(`routes[${i}].source.${p}`);
    r.sinks.forEach((sk, j) => {
      for (const p of sinkTypes[sk.type]?.problems?.(sk, ctx) ?? []) out.push(`routes[${i}].sinks[${j}].${p}`);
      for (const claim of sinkTypes[sk.type]?.exclusive?.(sk, { key, channel: facts.channel }) ?? []) {
        const prev = claims.get(claim);
        const at = `routes[${i}].sinks[${j}]`;
        if (prev && !dupKey) {
          out.push(
            `${at}: writes ${claim} like ${prev.at} (routes "${prev.route}" and "${key}"): they would overwrite each other's events; give the sinks different \`dir\`s or the routes different names`,
          );
        } else claims.set(claim, { at, route: key });
      }
    });
    out.push(...shapingProblems(r, `routes[${i}]`));
    if (r.fullRecord !== false && !(facts.org !== null && facts.channel?.startsWith('/data/')))
      out.push(
        `routes[${i}].fullRecord: needs a change-event channel (/data/…) from a Salesforce source (pubsub or cometd), not ${facts.channel ?? r.source.type}`,
      );
    r.sinks.forEach((sk, j) => {
      out.push(...shapingProblems(sk as ShapingConfig, `routes[${i}].sinks[${j}]`));
    });
    const prev = seen.get(key);
    if (prev !== undefined) {
      out.push(
        `routes[${i}].name: duplicate subscription key ${show(['routes', i, 'name'], key)} (also routes[${prev}]); give each route a unique name`,
      );
    } else {
      seen.set(key, i);
    }
    const org = facts.org;
    if (org !== null && !Object.hasOwn(config.orgs, org)) {
      const known = Object.keys(config.orgs);
      out.push(
        `routes[${i}].source.org: unknown org ${show(['routes', i, 'source', 'org'], org)}; ${known.length ? `defined orgs: ${known.join(', ')}` : 'no orgs are defined under `orgs:`'}`,
      );
    }
  });
  return out;
}

/** Declared custom channels: unique names, members that fit the channel's type, filters in Salesforce's syntax. */
function channelProblems(channels: OrgConfig['channels'], at: string): string[] {
  const out: string[] = [];
  const names = new Set<string>();
  channels.forEach((c, i) => {
    if (names.has(c.name)) out.push(`${at}[${i}].name: ${c.name} is declared twice`);
    names.add(c.name);
    c.members.forEach((m, j) => {
      const where = `${at}[${i}].members[${j}]`;
      const isChange = /ChangeEvent$/.test(m.entity);
      if (c.type === 'data' && !isChange)
        out.push(`${where}.entity: a data channel's members are change events (AccountChangeEvent, Invoice__ChangeEvent), not ${m.entity}`);
      if (c.type === 'event' && !/__e$/.test(m.entity))
        out.push(`${where}.entity: an event channel's members are custom platform events (Order_Event__e), not ${m.entity}`);
      const why = m.filter === undefined ? null : channelFilterProblem(m.filter);
      if (why) out.push(`${where}.filter: ${why}`);
    });
  });
  return out;
}

/** JSONata expressions that do not compile, with their path and the parser's message. */
function shapingProblems(c: ShapingConfig, at: string): string[] {
  const out: string[] = [];
  const check = (text: string | undefined, key: string) => {
    const why = text === undefined ? null : expressionProblem(text);
    if (why) out.push(`${at}.${key}: the JSONata expression does not compile: ${why}`);
  };
  check(c.filter?.expression, 'filter.expression');
  check(c.transform, 'transform');
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
