import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  FaultConfigError,
  parseFaultConfig,
  startMirror,
  type FaultConfig,
  type Mirror,
} from '../infra/mirror/server';

const CRAWL = 'CC-MAIN-2024-10';
const PATHS_KEY = `crawl-data/${CRAWL}/wet.paths.gz`;
const WET_KEY = `crawl-data/${CRAWL}/segments/1707947473347.0/wet/CC-MAIN-20240220211055-20240221001055-00000.warc.wet.gz`;
const BIG_KEY = 'crawl-data/big.bin';
const SECRET = 'TOP-SECRET-OUTSIDE-ROOT';

const WET_TEXT = [
  'WARC/1.0',
  'WARC-Type: conversion',
  'WARC-Target-URI: http://example.com/',
  'Content-Length: 13',
  '',
  'Hello, world!',
  '',
].join('\r\n');
const WET_GZ = gzipSync(Buffer.from(WET_TEXT));
const PATHS_GZ = gzipSync(Buffer.from(`${WET_KEY}\n`));
const BIG = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251));

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  error?: Error;
  ms: number;
}

/** One request on a fresh connection, with the path sent exactly as given (no normalisation). */
function request(
  base: string,
  rawPath: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/`, {
      method: opts.method ?? 'GET',
      headers: opts.headers,
      agent: false,
    });
    req.path = rawPath;
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let error: Error | undefined;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => (error = err));
      res.on('close', () => {
        if (!res.complete && !error) error = new Error('response closed before it was complete');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          error,
          ms: Date.now() - t0,
        });
      });
    });
    req.end(opts.body);
  });
}

async function statuses(base: string, key: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await request(base, `/${key}`)).status);
  return out;
}

void describe('mirror server', () => {
  let tmp: string;
  let root: string;
  let mirror: Mirror;
  let base: string;

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'ccmix-mirror-'));
    root = path.join(tmp, 'root');
    await mkdir(path.dirname(path.join(root, WET_KEY)), { recursive: true });
    await writeFile(path.join(root, PATHS_KEY), PATHS_GZ);
    await writeFile(path.join(root, WET_KEY), WET_GZ);
    await writeFile(path.join(root, BIG_KEY), BIG);
    await writeFile(path.join(root, 'empty.txt'), '');
    await writeFile(path.join(tmp, 'secret.txt'), SECRET);
    await symlink(path.join(tmp, 'secret.txt'), path.join(root, 'escape-link'));
    await utimes(
      path.join(root, WET_KEY),
      new Date('2024-03-01T00:00:00Z'),
      new Date('2024-03-01T00:00:00Z'),
    );
    mirror = await startMirror({ root, seed: 7 });
    base = mirror.url;
  });

  after(async () => {
    await mirror.close();
    await rm(tmp, { recursive: true, force: true });
  });

  beforeEach(() => {
    mirror.setFaults({});
    mirror.resetStats();
  });

  void describe('serving', () => {
    void test('full GET returns the exact bytes with validators; the paths list gunzips to the WET key', async () => {
      const r = await request(base, `/${PATHS_KEY}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, PATHS_GZ);
      assert.equal(gunzipSync(r.body).toString(), `${WET_KEY}\n`);
      assert.equal(r.headers['content-length'], String(PATHS_GZ.length));
      assert.equal(r.headers['accept-ranges'], 'bytes');
      assert.match(r.headers.etag ?? '', /^"[^"]+"$/);
      assert.equal(r.headers['content-encoding'], undefined);

      const wet = await request(base, `/${WET_KEY}`);
      assert.deepEqual(wet.body, WET_GZ);
      assert.equal(wet.headers['last-modified'], 'Fri, 01 Mar 2024 00:00:00 GMT');
      assert.deepEqual((await request(base, `/${BIG_KEY}`)).body, BIG);
    });

    void test('HEAD returns the headers of GET and no body', async () => {
      const r = await request(base, `/${WET_KEY}`, { method: 'HEAD' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], String(WET_GZ.length));
      assert.equal(r.body.length, 0);
      assert.equal(mirror.stats().bodyBytes, 0);
    });

    void test('ranges: first bytes, middle, open-ended, suffix', async () => {
      const size = BIG.length;
      const cases: [string, number, number][] = [
        ['bytes=0-99', 0, 99],
        ['bytes=1000-1999', 1000, 1999],
        [`bytes=${size - 10}-`, size - 10, size - 1],
        ['bytes=-25', size - 25, size - 1],
        [`bytes=5-${size + 1000}`, 5, size - 1],
      ];
      for (const [range, start, end] of cases) {
        const r = await request(base, `/${BIG_KEY}`, { headers: { Range: range } });
        assert.equal(r.status, 206, range);
        assert.equal(r.headers['content-range'], `bytes ${start}-${end}/${size}`, range);
        assert.equal(r.headers['content-length'], String(end - start + 1), range);
        assert.deepEqual(r.body, BIG.subarray(start, end + 1), range);
      }
    });

    void test('unsatisfiable ranges answer 416 with bytes */size', async () => {
      for (const range of [`bytes=${BIG.length}-`, 'bytes=-0']) {
        const r = await request(base, `/${BIG_KEY}`, { headers: { Range: range } });
        assert.equal(r.status, 416, range);
        assert.equal(r.headers['content-range'], `bytes */${BIG.length}`);
      }
      const empty = await request(base, '/empty.txt', { headers: { Range: 'bytes=0-' } });
      assert.equal(empty.status, 416);
      assert.equal(empty.headers['content-range'], 'bytes */0');
    });

    void test('If-Range: a matching ETag or date gives 206, a mismatch the full 200', async () => {
      const head = await request(base, `/${BIG_KEY}`, { method: 'HEAD' });
      const etag = head.headers.etag ?? '';
      const lastModified = head.headers['last-modified'] ?? '';
      const ok = await request(base, `/${BIG_KEY}`, { headers: { Range: 'bytes=0-9', 'If-Range': etag } });
      assert.equal(ok.status, 206);
      assert.deepEqual(ok.body, BIG.subarray(0, 10));
      const byDate = await request(base, `/${BIG_KEY}`, {
        headers: { Range: 'bytes=0-9', 'If-Range': lastModified },
      });
      assert.equal(byDate.status, 206);
      for (const stale of ['"0-0"', 'Thu, 01 Jan 1970 00:00:00 GMT']) {
        const r = await request(base, `/${BIG_KEY}`, { headers: { Range: 'bytes=0-9', 'If-Range': stale } });
        assert.equal(r.status, 200, stale);
        assert.equal(r.headers['content-range'], undefined);
        assert.deepEqual(r.body, BIG);
      }
    });

    void test('missing keys and directories answer 404; other methods 405', async () => {
      assert.equal((await request(base, '/crawl-data/nope.gz')).status, 404);
      assert.equal((await request(base, '/crawl-data')).status, 404);
      assert.equal((await request(base, '/')).status, 404);
      assert.equal((await request(base, `/${WET_KEY}`, { method: 'DELETE' })).status, 405);
    });

    void test('traversal attempts are rejected and nothing outside root is read', async () => {
      const attempts = [
        '/../secret.txt',
        '/crawl-data/../../secret.txt',
        '/%2e%2e/secret.txt',
        '/%2E%2E%2Fsecret.txt',
        '/crawl-data/%2e%2e/%2e%2e/secret.txt',
        '/..%5csecret.txt',
        `//${path.join(tmp, 'secret.txt')}`,
        `/%2F${encodeURIComponent(path.join(tmp, 'secret.txt').slice(1))}`,
        '/escape-link',
        '/%zz',
      ];
      for (const attempt of attempts) {
        const r = await request(base, attempt);
        assert.ok(r.status === 400 || r.status === 404, `${attempt} -> ${r.status}`);
        assert.ok(!r.body.toString().includes(SECRET), attempt);
      }
      const absoluteForm = await request(base, `http://${path.join(tmp, 'secret.txt')}`);
      assert.equal(absoluteForm.status, 400);
      assert.equal(mirror.stats().bodyBytes, 0);
    });
  });

  void describe('faults', () => {
    void test('rate503 answers 503 with Retry-After', async () => {
      mirror.setFaults({ rate503: 1, retryAfterSeconds: 3 });
      const r = await request(base, `/${WET_KEY}`);
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '3');
      assert.equal(mirror.stats().faults.rate503, 1);
    });

    void test('slowDown answers the S3 SlowDown XML', async () => {
      mirror.setFaults({ slowDown: 1 });
      const r = await request(base, `/${WET_KEY}`);
      assert.equal(r.status, 503);
      assert.match(r.headers['content-type'] ?? '', /xml/);
      assert.ok(
        r.body
          .toString()
          .includes(
            '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
          ),
      );
      assert.equal(mirror.stats().faults.slowDown, 1);
    });

    void test('listed keys always answer 403 / 404, others are served', async () => {
      mirror.setFaults({ status403: [WET_KEY], status404: [`/${PATHS_KEY}`] });
      assert.deepEqual(await statuses(base, WET_KEY, 3), [403, 403, 403]);
      assert.deepEqual(await statuses(base, PATHS_KEY, 2), [404, 404]);
      assert.equal((await request(base, `/${BIG_KEY}`)).status, 200);
      const s = mirror.stats();
      assert.equal(s.faults.status403, 3);
      assert.equal(s.faults.status404, 2);
    });

    void test('403 / 404 as probabilities', async () => {
      mirror.setFaults({ status403: 1 });
      assert.equal((await request(base, `/${WET_KEY}`)).status, 403);
      mirror.setFaults({ status404: 1 });
      assert.equal((await request(base, `/${WET_KEY}`)).status, 404);
    });

    void test('truncate sends full headers, then a short body, and the client sees an error', async () => {
      mirror.setFaults({ truncate: 1, truncateFraction: 0.25 });
      const r = await request(base, `/${BIG_KEY}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], String(BIG.length));
      assert.ok(r.error, 'client should see an error');
      assert.ok(r.body.length < BIG.length, `got ${r.body.length} bytes`);
      assert.deepEqual(r.body, BIG.subarray(0, r.body.length));
      const s = mirror.stats();
      assert.equal(s.faults.truncate, 1);
      assert.equal(s.bytesByKey[BIG_KEY], Math.floor(BIG.length * 0.25));

      const ranged = await request(base, `/${BIG_KEY}`, { headers: { Range: 'bytes=100-299' } });
      assert.equal(ranged.status, 206);
      assert.ok(ranged.error);
      assert.equal(ranged.body.length, 50);
    });

    void test('latencyMs is added before responding', async () => {
      const fast = await request(base, `/${WET_KEY}`);
      mirror.setFaults({ latencyMs: 200 });
      const slow = await request(base, `/${WET_KEY}`);
      assert.equal(slow.status, 200);
      assert.ok(slow.ms >= 190, `took ${slow.ms} ms`);
      assert.ok(slow.ms - fast.ms >= 150, `fast ${fast.ms} ms, slow ${slow.ms} ms`);
      assert.equal(mirror.stats().faults.latency, 1);
    });

    void test('bytesPerSecond throttles the body', async () => {
      mirror.setFaults({ bytesPerSecond: 100_000 });
      const r = await request(base, `/${BIG_KEY}`, { headers: { Range: 'bytes=0-49999' } });
      assert.deepEqual(r.body, BIG.subarray(0, 50_000));
      assert.ok(r.ms >= 400, `took ${r.ms} ms`);
    });

    void test('storm503 answers N 503s, then recovers', async () => {
      mirror.setFaults({ storm503: 4 });
      assert.deepEqual(await statuses(base, WET_KEY, 6), [503, 503, 503, 503, 200, 200]);
      assert.equal(mirror.stats().faults.storm503, 4);
    });

    void test('forRequests limits probabilistic faults to the first N requests in scope', async () => {
      mirror.setFaults({ rate503: 1, forRequests: 2 });
      assert.deepEqual(await statuses(base, WET_KEY, 4), [503, 503, 200, 200]);
    });

    void test('keys / keyPattern restrict faults to matching keys', async () => {
      mirror.setFaults({ rate503: 1, keys: [WET_KEY] });
      assert.equal((await request(base, `/${WET_KEY}`)).status, 503);
      assert.equal((await request(base, `/${PATHS_KEY}`)).status, 200);

      mirror.setFaults({ storm503: 2, keyPattern: '\\.warc\\.wet\\.gz$' });
      assert.deepEqual(await statuses(base, PATHS_KEY, 3), [200, 200, 200]);
      assert.deepEqual(await statuses(base, WET_KEY, 3), [503, 503, 200]);
    });

    void test('the same seed gives the same fault sequence; another seed another', async () => {
      const faults: FaultConfig = { rate503: 0.3, slowDown: 0.2, status404: 0.1 };
      mirror.setFaults({ ...faults, seed: 42 });
      const first = await statuses(base, WET_KEY, 30);
      mirror.setFaults({ ...faults, seed: 42 });
      const second = await statuses(base, WET_KEY, 30);
      assert.deepEqual(second, first);
      assert.ok(first.includes(503) && first.includes(200) && first.includes(404), first.join(','));

      const other = await startMirror({ root, seed: 42, faults });
      try {
        assert.deepEqual(await statuses(other.url, WET_KEY, 30), first);
      } finally {
        await other.close();
      }
      mirror.setFaults({ ...faults, seed: 43 });
      assert.notDeepEqual(await statuses(base, WET_KEY, 30), first);
    });
  });

  void describe('control API and stats', () => {
    void test('PUT /_mirror/faults changes faults at runtime; GET returns them', async () => {
      const put = await request(base, '/_mirror/faults', {
        method: 'PUT',
        body: JSON.stringify({ storm503: 1 }),
      });
      assert.equal(put.status, 200);
      assert.deepEqual(JSON.parse(put.body.toString()), { storm503: 1 });
      assert.deepEqual(JSON.parse((await request(base, '/_mirror/faults')).body.toString()), { storm503: 1 });
      assert.deepEqual(await statuses(base, WET_KEY, 2), [503, 200]);
      await request(base, '/_mirror/faults', { method: 'PUT', body: '{}' });
      assert.equal((await request(base, `/${WET_KEY}`)).status, 200);
    });

    void test('PUT with an invalid config is rejected with a clear message and changes nothing', async () => {
      mirror.setFaults({ latencyMs: 1 });
      const bad = await request(base, '/_mirror/faults', {
        method: 'PUT',
        body: JSON.stringify({ rate503: 2 }),
      });
      assert.equal(bad.status, 400);
      assert.match(
        (JSON.parse(bad.body.toString()) as { error: string }).error,
        /rate503 must be a probability/,
      );
      const notJson = await request(base, '/_mirror/faults', { method: 'PUT', body: '{oops' });
      assert.equal(notJson.status, 400);
      assert.match(notJson.body.toString(), /invalid JSON/);
      assert.deepEqual(mirror.faults(), { latencyMs: 1 });
    });

    void test('stats count requests, statuses and body bytes per key; reset zeroes them', async () => {
      await request(base, `/${WET_KEY}`);
      await request(base, `/${WET_KEY}`);
      await request(base, `/${BIG_KEY}`, { headers: { Range: 'bytes=0-99' } });
      await request(base, '/nope');
      const r = await request(base, '/_mirror/stats');
      const s = JSON.parse(r.body.toString()) as ReturnType<Mirror['stats']>;
      assert.equal(s.requests, 4);
      assert.deepEqual(s.byStatus, { '200': 2, '206': 1, '404': 1 });
      assert.equal(s.bytesByKey[WET_KEY], 2 * WET_GZ.length);
      assert.equal(s.bytesByKey[BIG_KEY], 100);
      assert.equal(s.bodyBytes, 2 * WET_GZ.length + 100);
      assert.equal(s.requestsByKey[WET_KEY], 2);

      const reset = await request(base, '/_mirror/stats/reset', { method: 'POST' });
      assert.equal(reset.status, 200);
      const zero = mirror.stats();
      assert.equal(zero.requests, 0);
      assert.equal(zero.bodyBytes, 0);
      assert.deepEqual(zero.bytesByKey, {});
    });

    void test('invalid fault configs are rejected with clear messages', async () => {
      const cases: [unknown, RegExp][] = [
        [{ rate503: -0.1 }, /rate503 must be a probability in \[0, 1\], got -0.1/],
        [{ rat503: 0.1 }, /unknown field\(s\) rat503/],
        [{ rate503: 0.6, slowDown: 0.6 }, /must be <= 1/],
        [{ status403: [''] }, /status403 must be a list of non-empty keys/],
        [{ latencyMs: 1.5 }, /latencyMs must be an integer >= 0/],
        [{ bytesPerSecond: 0 }, /bytesPerSecond must be an integer >= 1/],
        [{ keyPattern: '(' }, /keyPattern is not a valid regular expression/],
        [[1], /must be a JSON object/],
      ];
      for (const [input, message] of cases) {
        assert.throws(
          () => parseFaultConfig(input),
          (err: Error) => err instanceof FaultConfigError && message.test(err.message),
        );
        assert.throws(() => mirror.setFaults(input as FaultConfig), message);
      }
      await assert.rejects(startMirror({ root, faults: { truncate: 3 } }), /truncate must be a probability/);
    });
  });
});
