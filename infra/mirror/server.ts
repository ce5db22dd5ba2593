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
import { realpath, stat } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { FAULT_KINDS, Faults, parseFaultConfig, type FaultConfig, type FaultKind } from './faults';
import { parseKey, parseRange, readBody, s3Error, sendBody, sendJson, sleep } from './responses';

export { FaultConfigError, parseFaultConfig, type FaultConfig, type FaultKind } from './faults';
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

function emptyStats(): MirrorStats {
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  return { requests: 0, byStatus: {}, faults, bodyBytes: 0, bytesByKey: {}, requestsByKey: {} };
}

const bump = (m: Record<string, number>, k: string, by = 1): void => {
  m[k] = (m[k] ?? 0) + by;
};

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
