/**
 * ccmix's own Common Crawl mirror: a loopback HTTP server that serves a folder laid out like
 * Common Crawl (`crawl-data/<crawl>/wet.paths.gz`, WET files at their keys) with the real URL
 * layout, `GET|HEAD /<key>` -> `<root>/<key>`, plus deterministic fault injection so the real
 * download code can be tested against 503 storms, SlowDown, 403/404, truncated bodies, latency
 * and slow links.
 *
 * Control API (never faulted, not counted in stats):
 *   GET  /_mirror/faults        -> the current FaultConfig
 *   PUT  /_mirror/faults        <- a FaultConfig (replaces the current one; 400 with {error} if invalid)
 *   GET  /_mirror/stats         -> MirrorStats
 *   POST /_mirror/stats/reset   -> zeroed MirrorStats
 *
 * CLI: node dist/infra/mirror/server.js --root DIR [--host 127.0.0.1] [--port 0] [--seed N] [--faults-json '{...}']
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

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

export interface MirrorStats {
  /** Data requests (control API excluded). */
  requests: number;
  byStatus: Record<string, number>;
  faults: Record<FaultKind, number>;
  /** File body bytes actually written to clients. */
  bodyBytes: number;
  bytesByKey: Record<string, number>;
  requestsByKey: Record<string, number>;
}

export interface MirrorOptions {
  root: string;
  host?: string;
  port?: number;
  faults?: FaultConfig;
  seed?: number;
  /** Called with one line per data request: `METHOD /key STATUS BYTES`. */
  log?: (line: string) => void;
}

export interface Mirror {
  url: string;
  port: number;
  close(): Promise<void>;
  /** Validates and replaces the fault config; throws FaultConfigError if invalid. */
  setFaults(f: FaultConfig): void;
  faults(): FaultConfig;
  stats(): MirrorStats;
  resetStats(): void;
}

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
const FAULT_KINDS: FaultKind[] = [
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

function normalizeKey(key: string): string {
  return key.startsWith('/') ? key.slice(1) : key;
}

/** mulberry32: small, fast, and the same sequence on every platform for a given seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = 'none' | 'rate503' | 'slowDown' | 'status403' | 'status404' | 'truncate' | 'storm503';
interface Decision {
  outcome: Outcome;
  latencyMs: number;
  bytesPerSecond: number | undefined;
}

/** The fault state: config, PRNG and the counter of requests in scope since the config was set. */
class Faults {
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

function emptyStats(): MirrorStats {
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  return { requests: 0, byStatus: {}, faults, bodyBytes: 0, bytesByKey: {}, requestsByKey: {} };
}

const bump = (m: Record<string, number>, k: string, by = 1): void => {
  m[k] = (m[k] ?? 0) + by;
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function s3Error(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

type ParsedKey = { key: string } | { error: string };

/** The object key named by a request target, or why it is refused. Never touches the disk. */
function parseKey(target: string): ParsedKey {
  if (!target.startsWith('/')) return { error: 'request target must be an absolute path' };
  const rawPath = target.split('?', 1)[0] ?? '';
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { error: 'malformed percent-encoding' };
  }
  if (/[\0\\]/.test(decoded)) return { error: 'illegal character in path' };
  const key = decoded.slice(1);
  if (key.startsWith('/')) return { error: 'absolute paths are not allowed' };
  if (key !== '' && key.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    return { error: 'dot or empty path segments are not allowed' };
  }
  return { key };
}

/** `[start, end]` inclusive, 'unsatisfiable', or undefined to ignore the header and send it all. */
function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | 'unsatisfiable' | undefined {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    return n === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return [start, m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)];
}

/** Writes one chunk and waits until it is flushed; false if the client went away. */
function writeChunk(res: http.ServerResponse, chunk: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve(false);
    const onClose = (): void => resolve(false);
    res.once('close', onClose);
    res.write(chunk, (err) => {
      res.off('close', onClose);
      resolve(!err);
    });
  });
}

export async function startMirror(opts: MirrorOptions): Promise<Mirror> {
  const root = await realpath(opts.root);
  if (!(await stat(root)).isDirectory()) throw new Error(`mirror root is not a directory: ${opts.root}`);
  const host = opts.host ?? '127.0.0.1';
  const defaultSeed = opts.seed ?? 0;
  let faults = new Faults(parseFaultConfig(opts.faults ?? {}), defaultSeed);
  let counters = emptyStats();
  const setFaults = (f: FaultConfig): void => {
    faults = new Faults(parseFaultConfig(f), defaultSeed);
  };

  async function serveData(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    key: string,
    sent: { bytes: number },
  ): Promise<void> {
    const decision = faults.decide(key);
    if (decision.latencyMs > 0) {
      counters.faults.latency++;
      await sleep(decision.latencyMs);
    }
    const retryAfter = String(faults.config.retryAfterSeconds ?? 1);
    switch (decision.outcome) {
      case 'storm503':
      case 'rate503':
        counters.faults[decision.outcome]++;
        res.setHeader('Retry-After', retryAfter);
        return s3Error(res, 503, 'ServiceUnavailable', 'Service is unable to handle request.');
      case 'slowDown':
        counters.faults.slowDown++;
        return s3Error(res, 503, 'SlowDown', 'Please reduce your request rate.');
      case 'status403':
        counters.faults.status403++;
        return s3Error(res, 403, 'AccessDenied', 'Access Denied');
      case 'status404':
        counters.faults.status404++;
        return s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      default:
        break;
    }

    const file = await resolveFile(key);
    if (file === undefined) return s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    const { size, mtime } = file.stat;
    const etag = `"${size.toString(16)}-${Math.floor(mtime.getTime()).toString(16)}"`;
    const lastModified = mtime.toUTCString();
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('ETag', etag);
    res.setHeader('Last-Modified', lastModified);
    res.setHeader('Content-Type', 'application/octet-stream');

    const ifRange = req.headers['if-range'];
    const rangeHeader =
      ifRange === undefined || ifRange === etag || ifRange === lastModified ? req.headers.range : undefined;
    const range = parseRange(rangeHeader, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
      return void res.end();
    }
    const [start, end] = range ?? [0, size - 1];
    const length = end - start + 1;
    if (range) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    res.writeHead(range ? 206 : 200, { 'Content-Length': length });
    if (req.method === 'HEAD' || length === 0) return void res.end();

    const truncated = decision.outcome === 'truncate';
    const limit = truncated
      ? Math.min(length - 1, Math.floor(length * (faults.config.truncateFraction ?? 0.5)))
      : length;
    if (truncated) counters.faults.truncate++;
    if (decision.bytesPerSecond !== undefined) counters.faults.throttle++;
    const complete = await sendBody(res, file.path, start, limit, decision.bytesPerSecond, (n) => {
      sent.bytes += n;
      counters.bodyBytes += n;
      bump(counters.bytesByKey, key, n);
    });
    if (truncated || !complete) res.destroy();
    else res.end();
  }

  /** The file for a key, only if it is a regular file whose real path lies inside root. */
  async function resolveFile(
    key: string,
  ): Promise<{ path: string; stat: import('node:fs').Stats } | undefined> {
    if (key === '') return undefined;
    try {
      const real = await realpath(path.resolve(root, key));
      if (!real.startsWith(root + path.sep)) return undefined;
      const st = await stat(real);
      return st.isFile() ? { path: real, stat: st } : undefined;
    } catch {
      return undefined;
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    if (target === '/_mirror' || target.startsWith('/_mirror/')) return control(req, res, target);
    const parsed = parseKey(target);
    const label = 'key' in parsed ? `/${parsed.key}` : target;
    if ('key' in parsed) bump(counters.requestsByKey, parsed.key);
    const sent = { bytes: 0 };
    const statsAtStart = counters;
    res.on('close', () => {
      if (statsAtStart !== counters) return; // stats were reset meanwhile
      counters.requests++;
      bump(counters.byStatus, String(res.statusCode));
      opts.log?.(`${req.method} ${label} ${res.statusCode} ${sent.bytes}`);
    });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return s3Error(res, 405, 'MethodNotAllowed', 'The specified method is not allowed.');
    }
    if ('error' in parsed) return s3Error(res, 400, 'InvalidURI', `Invalid key: ${parsed.error}`);
    return serveData(req, res, parsed.key, sent);
  }

  async function control(req: http.IncomingMessage, res: http.ServerResponse, target: string): Promise<void> {
    const route = `${req.method} ${target.split('?', 1)[0]}`;
    if (route === 'GET /_mirror/faults') return sendJson(res, 200, faults.config);
    if (route === 'PUT /_mirror/faults') {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req, 1 << 20));
      } catch (err) {
        return sendJson(res, 400, { error: `invalid JSON: ${(err as Error).message}` });
      }
      try {
        setFaults(body as FaultConfig);
      } catch (err) {
        return sendJson(res, 400, { error: (err as Error).message });
      }
      return sendJson(res, 200, faults.config);
    }
    if (route === 'GET /_mirror/stats') return sendJson(res, 200, counters);
    if (route === 'POST /_mirror/stats/reset') {
      counters = emptyStats();
      return sendJson(res, 200, counters);
    }
    return sendJson(res, 404, {
      error: `unknown control route ${route}; try GET|PUT /_mirror/faults, GET /_mirror/stats, POST /_mirror/stats/reset`,
    });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) s3Error(res, 500, 'InternalError', (err as Error).message);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        const force = setTimeout(() => server.closeAllConnections(), 2000);
        server.close((err) => {
          clearTimeout(force);
          if (err) reject(err);
          else resolve();
        });
        server.closeIdleConnections();
      })),
    setFaults,
    faults: () => structuredClone(faults.config),
    stats: () => structuredClone(counters),
    resetStats: () => {
      counters = emptyStats();
    },
  };
}

/** Streams `limit` bytes from `start`, optionally throttled. Reads no more than it sends. */
async function sendBody(
  res: http.ServerResponse,
  file: string,
  start: number,
  limit: number,
  bytesPerSecond: number | undefined,
  onBytes: (n: number) => void,
): Promise<boolean> {
  if (limit <= 0) return true;
  const highWaterMark = bytesPerSecond
    ? Math.max(1, Math.min(65536, Math.floor(bytesPerSecond / 20)))
    : 65536;
  const stream = createReadStream(file, { start, end: start + limit - 1, highWaterMark });
  const t0 = Date.now();
  let sent = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (!(await writeChunk(res, chunk))) return false;
      sent += chunk.length;
      onBytes(chunk.length);
      if (bytesPerSecond) {
        const wait = t0 + (sent / bytesPerSecond) * 1000 - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }
  } finally {
    stream.destroy();
  }
  return true;
}

function readBody(req: http.IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new Error(`body larger than ${max} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      root: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      seed: { type: 'string', default: '0' },
      'faults-json': { type: 'string', default: '{}' },
    },
  });
  if (!values.root) throw new Error('--root is required');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be 0..65535, got ${values.port}`);
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
  let faults: unknown;
  try {
    faults = JSON.parse(values['faults-json']);
  } catch (err) {
    throw new Error(`--faults-json is not valid JSON: ${(err as Error).message}`);
  }
  const mirror = await startMirror({
    root: values.root,
    host: values.host,
    port,
    seed,
    faults: parseFaultConfig(faults),
    log: (line) => console.log(line),
  });
  console.log(`mirror listening on ${mirror.url}`);
  const stop = (signal: string): void => {
    console.log(`mirror: ${signal}, closing`);
    mirror.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`mirror: close failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`mirror: ${(err as Error).message}`);
    process.exit(2);
  });
}
