/**
 * Every field of the config, table-driven from the schema itself: each bad value is rejected with
 * an issue that names that field. A field added to the schema is covered without editing this file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, configJsonSchema, parseConfig } from '../config/schema';

interface Node {
  type?: string;
  properties?: Record<string, Node>;
  additionalProperties?: Node | boolean;
  anyOf?: Node[];
  oneOf?: Node[];
  items?: Node;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  minItems?: number;
  pattern?: string;
  format?: string;
}

/** A valid object for each branch of each union, in the schema's branch order. */
const UNION_BRANCHES: Record<string, Array<Record<string, unknown>>> = {
  source: [
    { kind: 'http', baseUrl: 'https://data.commoncrawl.org/' },
    { kind: 's3', bucket: 'commoncrawl' },
  ],
  wetFilesPerCrawl: [{ count: 2 }, { fraction: 0.5 }],
};

/** Values the node must reject, each with a label. */
function badValues(node: Node): Array<[string, unknown]> {
  const bad: Array<[string, unknown]> = [];
  const wrongType: Record<string, unknown> = {
    string: 12345,
    integer: 'x',
    number: 'x',
    boolean: 'x',
    array: 'x',
    object: 'x',
  };
  if (node.type && node.type in wrongType)
    bad.push([`${node.type} given a wrong type`, wrongType[node.type]]);
  if (node.type === 'integer') bad.push(['not an integer', 1.5]);
  if (node.minimum !== undefined) bad.push(['below minimum', node.minimum - 1]);
  if (node.exclusiveMinimum !== undefined) bad.push(['at exclusive minimum', node.exclusiveMinimum]);
  if (node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER)
    bad.push(['above maximum', node.maximum + 1]);
  if (node.exclusiveMaximum !== undefined) bad.push(['at exclusive maximum', node.exclusiveMaximum]);
  if (node.enum) bad.push(['not an option', 'not-an-option']);
  if (node.pattern) bad.push(['not matching the pattern', '!! no']);
  if (node.minLength) bad.push(['too short', '']);
  if (node.format === 'uri') bad.push(['not a URI', 'not a uri']);
  if (node.minItems) bad.push(['too few items', []]);
  return bad;
}

interface Case {
  field: string;
  label: string;
  config: Record<string, unknown>;
}

/** `value` placed at `path` inside a copy of `base`, creating objects on the way. */
function placed(base: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const [head, ...rest] = path as [string, ...string[]];
  if (rest.length === 0) return { ...base, [head]: value };
  const inner = base[head];
  const child = Array.isArray(inner)
    ? Object.fromEntries(inner.map((v, i) => [String(i), v]))
    : ((inner as Record<string, unknown> | undefined) ?? {});
  const next = placed(child, rest, value);
  return { ...base, [head]: Array.isArray(inner) ? Object.values(next) : next };
}

function cases(node: Node, path: string[], base: Record<string, unknown>, out: Case[]): void {
  const field = path.join('.');
  const union = node.anyOf ?? node.oneOf;
  if (union) {
    const branches = UNION_BRANCHES[field];
    assert.ok(branches?.length === union.length, `a valid object for each branch of union ${field}`);
    union.forEach((branch, i) => {
      const withBranch = placed(base, path, branches[i]);
      out.push({ field, label: `branch ${i} given a wrong type`, config: placed(base, path, 12345) });
      for (const [name, child] of Object.entries(branch.properties ?? {})) {
        if (child.const !== undefined) continue; // the discriminator
        cases(child, [...path, name], withBranch, out);
      }
      out.push({
        field,
        label: `branch ${i} with an unknown key`,
        config: placed(withBranch, [...path, 'nope'], 1),
      });
    });
    return;
  }
  if (path.length > 0)
    for (const [label, value] of badValues(node))
      out.push({ field, label, config: placed(base, path, value) });
  if (node.type === 'array' && node.items && path.length > 0) {
    const valid = (parseConfig(base) as Record<string, unknown>)[path[0] as string] as unknown[];
    assert.ok(Array.isArray(valid) && valid.length > 0, `${field} has a default to vary`);
    for (const [label, value] of badValues(node.items)) {
      out.push({
        field: `${field}.0`,
        label: `item ${label}`,
        config: placed(base, path, [value, ...valid.slice(1)]),
      });
    }
  }
  if (node.properties) {
    for (const [name, child] of Object.entries(node.properties)) cases(child, [...path, name], base, out);
    out.push({
      field: field || '(root)',
      label: 'an unknown key',
      config: placed(base, [...path, 'nope'], 1),
    });
  }
  if (typeof node.additionalProperties === 'object' && path.length > 0) {
    for (const [label, value] of badValues(node.additionalProperties)) {
      out.push({
        field: `${field}.some.key`,
        label: `entry ${label}`,
        config: placed(base, [...path, 'some.key'], value),
      });
    }
  }
}

test('every config field, given a bad value, is rejected with an issue naming that field', () => {
  const all: Case[] = [];
  cases(configJsonSchema(), [], {}, all);
  const fields = new Set(all.map((c) => c.field));
  // The walk reaches the whole schema: a sample of leaves from every part of it.
  for (const f of [
    'seed',
    'crawls.0',
    'source.baseUrl',
    'source.bucket',
    'wetFilesPerCrawl.fraction',
    'mixture.weights.books2',
    'spark.conf.some.key',
    'referenceCorpora.wikipedia.format',
  ]) {
    assert.ok(fields.has(f), `the walk reaches ${f}`);
  }
  const failures: string[] = [];
  for (const c of all) {
    let issues: Array<{ path: string; message: string }> = [];
    try {
      parseConfig(c.config);
      failures.push(`${c.field} (${c.label}): accepted ${JSON.stringify(c.config)}`);
      continue;
    } catch (error) {
      assert.ok(error instanceof ConfigError, `${c.field}: a ConfigError, got ${String(error)}`);
      issues = error.issues;
    }
    const unknownKey = c.label.includes('unknown key');
    const named = issues.some((i) => i.path === c.field && (!unknownKey || i.message.includes('nope')));
    if (!named) failures.push(`${c.field} (${c.label}): issues ${JSON.stringify(issues)}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${all.length} bad values not named`);
  assert.ok(all.length > 150, `${all.length} cases`);
});
