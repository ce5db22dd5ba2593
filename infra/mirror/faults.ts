/** Fault injection for the mirror: the config, its validation, and the seeded decision per request. */

/**
 * Faults to inject. Probabilistic faults are disjoint outcomes of one PRNG draw per request in
 * scope, so `rate503 + slowDown + status403 + status404 + truncate` must be <= 1.
 * Given a seed and the order of requests, the fault sequence is reproducible; the PRNG and the
 * storm / forRequests counters restart whenever a config is set.
 */
export interface FaultConfig {
  /** PRNG seed; overrides the seed given to startMirror. */
  seed?: number;
  /** Probability of `503 ServiceUnavailable` with `Retry-After`. */
  rate503?: number;
  /** Seconds sent in `Retry-After` (default 1). */
  retryAfterSeconds?: number;
  /** Probability of an S3-style `503 SlowDown` with an XML body. */
  slowDown?: number;
  /** Probability of 403, or keys that always answer 403 (whatever the key filter). */
  status403?: number | string[];
  /** Probability of 404, or keys that always answer 404 (whatever the key filter). */
  status404?: number | string[];
  /** Probability of a truncated body: full headers, then the socket closes after a fraction of the body. */
  truncate?: number;
  /** Fraction of the body sent before a truncation (default 0.5). */
  truncateFraction?: number;
  /** Delay added before responding. */
  latencyMs?: number;
  /** Throttle on body bytes per response. */
  bytesPerSecond?: number;
  /** Faults apply only to these keys (or to keys matching keyPattern); all keys when neither is set. */
  keys?: string[];
  /** Regular expression (JavaScript syntax) tested against the key, e.g. `\\.warc\\.wet\\.gz$`. */
  keyPattern?: string;
  /** The first N requests in scope answer 503 with Retry-After; then the mirror recovers. */
  storm503?: number;
  /** Probabilistic faults, latency and throttle apply only to the first N requests in scope. */
  forRequests?: number;
}

export type FaultKind =
  'rate503' | 'slowDown' | 'status403' | 'status404' | 'truncate' | 'storm503' | 'latency' | 'throttle';

export class FaultConfigError extends Error {
  override name = 'FaultConfigError';
}

const FIELDS = [
  'seed',
  'rate503',
  'retryAfterSeconds',
  'slowDown',
  'status403',
  'status404',
  'truncate',
  'truncateFraction',
  'latencyMs',
  'bytesPerSecond',
  'keys',
  'keyPattern',
  'storm503',
  'forRequests',
] as const;
export const FAULT_KINDS: FaultKind[] = [
  'rate503',
  'slowDown',
  'status403',
  'status404',
  'truncate',
  'storm503',
  'latency',
  'throttle',
];

/** Validates an untrusted fault config (JSON from the CLI or the control API). */
export function parseFaultConfig(input: unknown): FaultConfig {
  const fail = (msg: string): never => {
    throw new FaultConfigError(`invalid fault config: ${msg}`);
  };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) fail('must be a JSON object');
  const raw = input as Record<string, unknown>;
  const unknown = Object.keys(raw).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) fail(`unknown field(s) ${unknown.join(', ')}; known: ${FIELDS.join(', ')}`);
  const shown = (v: unknown): string => JSON.stringify(v) ?? String(v);
  const prob = (k: string, v: unknown): number =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1
      ? v
      : fail(`${k} must be a probability in [0, 1], got ${shown(v)}`);
  const int = (k: string, v: unknown, min: number): number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min
      ? v
      : fail(`${k} must be an integer >= ${min}, got ${shown(v)}`);
  const keyList = (k: string, v: unknown): string[] =>
    Array.isArray(v) && v.every((s) => typeof s === 'string' && s.length > 0)
      ? (v as string[]).map(normalizeKey)
      : fail(`${k} must be a list of non-empty keys, got ${shown(v)}`);
  const probOrKeys = (k: string, v: unknown): number | string[] =>
    Array.isArray(v) ? keyList(k, v) : prob(k, v);

  const out: FaultConfig = {};
  const has = (k: (typeof FIELDS)[number]): boolean => raw[k] !== undefined;
  if (has('seed')) out.seed = int('seed', raw.seed, Number.MIN_SAFE_INTEGER);
  if (has('rate503')) out.rate503 = prob('rate503', raw.rate503);
  if (has('retryAfterSeconds')) out.retryAfterSeconds = int('retryAfterSeconds', raw.retryAfterSeconds, 0);
  if (has('slowDown')) out.slowDown = prob('slowDown', raw.slowDown);
  if (has('status403')) out.status403 = probOrKeys('status403', raw.status403);
  if (has('status404')) out.status404 = probOrKeys('status404', raw.status404);
  if (has('truncate')) out.truncate = prob('truncate', raw.truncate);
  if (has('truncateFraction')) out.truncateFraction = prob('truncateFraction', raw.truncateFraction);
  if (has('latencyMs')) out.latencyMs = int('latencyMs', raw.latencyMs, 0);
  if (has('bytesPerSecond')) out.bytesPerSecond = int('bytesPerSecond', raw.bytesPerSecond, 1);
  if (has('keys')) out.keys = keyList('keys', raw.keys);
  if (has('keyPattern')) {
    const p = raw.keyPattern;
    if (typeof p !== 'string') fail(`keyPattern must be a string, got ${shown(p)}`);
    try {
      new RegExp(p as string);
    } catch (err) {
      fail(`keyPattern is not a valid regular expression: ${(err as Error).message}`);
    }
    out.keyPattern = p as string;
  }
  if (has('storm503')) out.storm503 = int('storm503', raw.storm503, 0);
  if (has('forRequests')) out.forRequests = int('forRequests', raw.forRequests, 0);
  const total = [out.rate503, out.slowDown, out.status403, out.status404, out.truncate]
    .map((v) => (typeof v === 'number' ? v : 0))
    .reduce((a, b) => a + b, 0);
  if (total > 1 + 1e-9) {
    fail(`rate503 + slowDown + status403 + status404 + truncate must be <= 1, got ${total}`);
  }
  return out;
}

export function normalizeKey(key: string): string {
  return key.startsWith('/') ? key.slice(1) : key;
}

/** mulberry32: small, fast, and the same sequence on every platform for a given seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Outcome = 'none' | 'rate503' | 'slowDown' | 'status403' | 'status404' | 'truncate' | 'storm503';
export interface Decision {
  outcome: Outcome;
  latencyMs: number;
  bytesPerSecond: number | undefined;
}

/** The fault state: config, PRNG and the counter of requests in scope since the config was set. */
export class Faults {
  readonly config: FaultConfig;
  private readonly rng: () => number;
  private readonly pattern: RegExp | undefined;
  private inScope = 0;

  constructor(config: FaultConfig, defaultSeed: number) {
    this.config = config;
    this.rng = prng(config.seed ?? defaultSeed);
    this.pattern = config.keyPattern === undefined ? undefined : new RegExp(config.keyPattern);
  }

  decide(key: string): Decision {
    const c = this.config;
    const none: Decision = { outcome: 'none', latencyMs: 0, bytesPerSecond: undefined };
    if (Array.isArray(c.status403) && c.status403.includes(key)) return { ...none, outcome: 'status403' };
    if (Array.isArray(c.status404) && c.status404.includes(key)) return { ...none, outcome: 'status404' };
    const filtered = c.keys !== undefined || this.pattern !== undefined;
    if (filtered && !(c.keys?.includes(key) || this.pattern?.test(key))) return none;
    const i = this.inScope++;
    const active = c.forRequests === undefined || i < c.forRequests;
    const decision: Decision = {
      outcome: 'none',
      latencyMs: active ? (c.latencyMs ?? 0) : 0,
      bytesPerSecond: active ? c.bytesPerSecond : undefined,
    };
    if (i < (c.storm503 ?? 0)) return { ...decision, outcome: 'storm503' };
    if (!active) return decision;
    const u = this.rng();
    let edge = 0;
    const table: [Outcome, number | string[] | undefined][] = [
      ['rate503', c.rate503],
      ['slowDown', c.slowDown],
      ['status403', c.status403],
      ['status404', c.status404],
      ['truncate', c.truncate],
    ];
    for (const [outcome, p] of table) {
      edge += typeof p === 'number' ? p : 0;
      if (u < edge) return { ...decision, outcome };
    }
    return decision;
  }
}
