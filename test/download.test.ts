/**
 * The download functions alone (no Temporal) against the project's mirror on loopback: resume,
 * verification, quarantine, throttling.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, utimesSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  backoffMs,
  downloadFile,
  verifyGzip,
  type FileOutcome,
  type RetryPolicy,
} from '../core/download/download-file';
import { retryAfterMs } from '../core/download/source-reader';
import { RateGovernor } from '../core/download/rate-governor';
import { sourceS3Client } from '../core/commoncrawl-source';
import { batchKeys, downloadBatch, type DownloadBatchInput } from '../core/download/batch';
import { finalizeCrawlInventory, InventoryIncompleteError } from '../core/download/finalize';
import {
  inventoryPartPath,
  rawPathFor,
  readInventory,
  writeInventory,
  type InventoryRecord,
} from '../core/download/inventory';
import { LocalStorage, UnsafePathError } from '../core/storage';
import { startMirror, type Mirror } from '../infra/mirror/server';
import { tempDir } from './helpers/services';

const crawl = 'CC-MAIN-2018-05';
const keyOf = (name: string): string =>
  `crawl-data/${crawl}/segments/1516084886237.6/wet/${name}.warc.wet.gz`;
const retry: RetryPolicy = { maxTransientAttempts: 8, maxCorruptAttempts: 2, baseDelayMs: 5, maxDelayMs: 20 };
let root: string;
let mirror: Mirror;
/** The mirror's request log: `METHOD /key STATUS BYTES` per data request. */
const requestLog: string[] = [];
const sources: Record<string, Buffer> = {};

function pseudoRandomText(seed: number, bytes: number): string {
  let x = seed;
  let out = '';
  while (out.length < bytes) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out += `word${x % 9973} `;
  }
  return out;
}

function put(name: string, data: Buffer): string {
  const key = keyOf(name);
  mkdirSync(path.dirname(path.join(root, key)), { recursive: true });
  writeFileSync(path.join(root, key), data);
  sources[key] = data;
  return key;
}

/** One file from the mirror into `partialPath`; a fresh governor with a high ceiling unless given. */
function fetchKey(
  key: string,
  partialPath: string,
  opts: { governor?: RateGovernor; retry?: RetryPolicy } = {},
): Promise<FileOutcome> {
  const governor = opts.governor ?? new RateGovernor(1000, { ceiling: 1000 });
  return downloadFile({ source: source(), key, partialPath, governor, retry: opts.retry ?? retry });
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const source = () => ({ kind: 'http' as const, baseUrl: mirror.url + '/' });

before(async () => {
  root = tempDir('dl-src');
  put('big', gzipSync(pseudoRandomText(1, 600_000), { level: 1 }));
  put('small', gzipSync('hello world\n'));
  const corrupt = gzipSync(pseudoRandomText(2, 50_000));
  const middle = Math.floor(corrupt.length / 2);
  corrupt[middle] = (corrupt[middle] ?? 0) ^ 0xff;
  put('corrupt', corrupt);
  mirror = await startMirror({ root, seed: 7, log: (line) => requestLog.push(line) });
});
after(() => mirror.close());
beforeEach(() => {
  mirror.setFaults({});
  mirror.resetStats();
});

test('a file arrives byte-identical and verified', async () => {
  const partial = path.join(tempDir('dl'), 'big.partial');
  const outcome = await fetchKey(keyOf('big'), partial);
  assert.equal(outcome.status, 'ok');
  assert.ok(outcome.status === 'ok' && outcome.sha256 === sha(sources[keyOf('big')]!));
  assert.deepEqual(readFileSync(partial), sources[keyOf('big')]);
});

test('a truncated body is resumed with a Range request, not fetched again', async () => {
  mirror.setFaults({ truncate: 1, truncateFraction: 0.4, forRequests: 1 });
  const partial = path.join(tempDir('dl'), 'big.partial');
  const outcome = await fetchKey(keyOf('big'), partial);
  const size = sources[keyOf('big')]!.length;
  assert.equal(outcome.status, 'ok');
  assert.equal(outcome.retries, 1);
  assert.deepEqual(readFileSync(partial), sources[keyOf('big')]);
  const served =
    mirror.stats().bytesByKey['/' + keyOf('big')] ?? mirror.stats().bytesByKey[keyOf('big')] ?? 0;
  assert.equal(served, size, 'every byte was sent exactly once');
  assert.equal(mirror.stats().faults.truncate, 1);
});

test('an object that changed between attempts is fetched again from zero', async () => {
  const key = put('changing', gzipSync(pseudoRandomText(3, 1_500_000), { level: 1 }));
  mirror.setFaults({ truncate: 1, truncateFraction: 0.5, forRequests: 1, keys: [key] });
  const partial = path.join(tempDir('dl'), 'changing.partial');
  const governor = new RateGovernor(1000, { ceiling: 1000 });
  // First attempt breaks off half-way and gives up (one transient attempt allowed).
  await assert.rejects(
    fetchKey(key, partial, { governor, retry: { ...retry, maxTransientAttempts: 1 } }),
    /transient failures/,
  );
  // Big enough that part of the body reaches the disk before it breaks off (a body shorter than
  // the socket's buffers errors before its first chunk is read): the next attempt then resumes.
  assert.ok(statSync(partial).size > 0, 'the first attempt left a partial file to resume');
  const replaced = put('changing', gzipSync(pseudoRandomText(4, 1_600_000), { level: 1 }));
  utimesSync(path.join(root, replaced), new Date(), new Date(Date.now() + 5000));
  requestLog.length = 0;
  const outcome = await fetchKey(key, partial, { governor });
  assert.equal(outcome.status, 'ok');
  assert.deepEqual(readFileSync(partial), sources[key]);
  // The resume asked for a range If-Range the old object: the server answered with the whole new
  // one (200) at once. Without If-Range it would have sent a range of the new object (206) first.
  const statuses = requestLog.filter((line) => line.includes(key)).map((line) => line.split(' ')[2]);
  assert.deepEqual(statuses, ['200'], `requests for the changed object: ${requestLog.join('; ')}`);
  assert.equal(outcome.retries, 0, 'no range of the new object was fetched and thrown away');
});

test('a permanently corrupt gzip file and a 404 are quarantined with reasons', async () => {
  const governor = new RateGovernor(1000, { ceiling: 1000 });
  const corrupt = await fetchKey(keyOf('corrupt'), path.join(tempDir('dl'), 'c'), { governor });
  assert.equal(corrupt.status, 'quarantined');
  assert.match(corrupt.status === 'quarantined' ? corrupt.reason : '', /^corrupt: /);
  assert.equal(corrupt.retries, 1, 'verification was retried once before quarantine');
  const missing = await fetchKey(keyOf('absent'), path.join(tempDir('dl'), 'm'), { governor });
  assert.equal(missing.status, 'quarantined');
  assert.match(missing.status === 'quarantined' ? missing.reason : '', /^http_404/);
});

test('the verifier threads: verdicts, lent bytes left intact, no thread keeping a process alive', async () => {
  const big = sources[keyOf('big')]!;
  const lent = Buffer.from(big);
  assert.deepEqual(await verifyGzip([lent]), { sha256: sha(big), gzipError: null });
  assert.deepEqual(lent, big, "bytes lent to the verifier (not transferred) are still the caller's");
  const pieces = Array.from({ length: Math.ceil(big.length / 4096) }, (_, i) =>
    big.subarray(i * 4096, (i + 1) * 4096),
  );
  assert.deepEqual(
    await verifyGzip(pieces),
    { sha256: sha(big), gzipError: null },
    'pieces are taken in order',
  );
  assert.equal((await verifyGzip([big.subarray(0, big.length - 100)])).gzipError, 'unexpected end of file');
  assert.equal(
    (await verifyGzip([Buffer.from('plain text\n'.repeat(100))])).gzipError,
    'incorrect header check',
  );

  // A download that gives up with its body half-verified must not leave a verifier thread
  // holding the process: a child process does one and has to exit by itself.
  mirror.setFaults({ truncate: 1, truncateFraction: 0.5, forRequests: 1, keys: [keyOf('big')] });
  const module = (name: string): string =>
    JSON.stringify(path.join(__dirname, '..', 'core', 'download', name));
  const script = `
    const { downloadFile } = require(${module('download-file.js')});
    const { RateGovernor } = require(${module('rate-governor.js')});
    downloadFile({
      source: { kind: 'http', baseUrl: ${JSON.stringify(source().baseUrl)} },
      key: ${JSON.stringify(keyOf('big'))},
      partialPath: ${JSON.stringify(path.join(tempDir('dl'), 'gives-up'))},
      governor: new RateGovernor(1000, { ceiling: 1000 }),
      retry: ${JSON.stringify({ ...retry, maxTransientAttempts: 1 })},
    }).then((o) => console.log('finished: ' + o.status), (e) => console.log('gave up: ' + e.message));`;
  const child = await promisify(execFile)(process.execPath, ['-e', script], { timeout: 20_000 }).catch(
    (error: Error & { stdout?: string; signal?: string }) =>
      assert.fail(
        `the child did not exit by itself (${error.signal ?? error.message}): ${error.stdout ?? ''}`,
      ),
  );
  assert.match(child.stdout, /^gave up: .*transient failures/);
  assert.equal(mirror.stats().faults.truncate, 1);
});

test('a 503 storm slows the governor, and the file still arrives', async () => {
  mirror.setFaults({ storm503: 4, retryAfterSeconds: 0 });
  const governor = new RateGovernor(50, { ceiling: 50 });
  const outcome = await fetchKey(keyOf('small'), path.join(tempDir('dl'), 's'), { governor });
  assert.equal(outcome.status, 'ok');
  assert.equal(governor.throttleCount, 4);
  assert.ok(governor.currentRate < 50 / 8, `rate fell to ${governor.currentRate}`);
});

test('the governor halves on throttling, recovers while requests succeed, and paces requests', async () => {
  let now = 0;
  const slept: number[] = [];
  const governor = new RateGovernor(10, {
    ceiling: 10,
    recoveryPerSecond: 1,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  });
  await governor.onThrottle();
  await governor.onThrottle();
  assert.equal(governor.currentRate, 2.5);
  for (let i = 0; i < 6; i++) await governor.acquire();
  assert.ok(slept.length >= 4, 'requests beyond the burst had to wait');
  now += 100_000;
  await governor.acquire();
  assert.equal(governor.currentRate, 10, 'back to the ceiling, never above');
});

test('a request waiting for the governor gives up as soon as its batch is cancelled', async () => {
  const governor = new RateGovernor(0.1, { ceiling: 0.1 }); // one request per 10 s, real clock
  await governor.acquire(); // the burst
  const cancel = new AbortController();
  const started = Date.now();
  setTimeout(() => cancel.abort(new Error('batch cancelled')), 50);
  // Before: the wait ran its full 10 s, whatever the batch did.
  await assert.rejects(governor.acquire(cancel.signal), /batch cancelled/);
  const waited = Date.now() - started;
  assert.ok(waited < 2000, `gave up after ${waited} ms, not the 10 s wait`);
  await assert.rejects(
    governor.acquire(cancel.signal),
    /batch cancelled/,
    'an aborted batch waits for nothing',
  );
});

test('governors share a throttle through storage, and none is held down by its own old record', async () => {
  const shared = new LocalStorage(tempDir('rate'));
  let now = 0;
  const clock = { now: () => now, sleep: () => Promise.resolve(), recoveryPerSecond: 1 };
  const first = new RateGovernor(10, { ceiling: 10, shared, ...clock });
  const second = new RateGovernor(10, { ceiling: 10, shared, ...clock });
  await first.onThrottle(); // 10 -> 5 requests/s, recorded for the others
  now += 3000;
  await second.acquire();
  assert.ok(second.currentRate < 10, `the other worker slowed down too (${second.currentRate}/s)`);
  await first.acquire(); // recovering at 1/s: 8
  now += 3000;
  await first.acquire();
  assert.equal(first.currentRate, 10, 'back at the ceiling, not pulled down to its own old record');
});

test('a key that keeps timing out is quarantined after its bounded attempts', async () => {
  mirror.setFaults({ latencyMs: 400, keys: [keyOf('small')] });
  const outcome = await fetchKey(keyOf('small'), path.join(tempDir('dl'), 't'), {
    retry: { ...retry, requestTimeoutMs: 100, maxAttemptsPerFile: 3 },
  });
  assert.equal(outcome.status, 'quarantined');
  assert.match(outcome.status === 'quarantined' ? outcome.reason : '', /^timeout_after_3_attempts: /);
  assert.equal(mirror.stats().requests, 3);
  // A slow but steady body is not a timeout: every chunk resets the clock.
  mirror.setFaults({ bytesPerSecond: 200_000, keys: [keyOf('big')] });
  const steady = await fetchKey(keyOf('big'), path.join(tempDir('dl'), 'b'), {
    retry: { ...retry, requestTimeoutMs: 300, maxAttemptsPerFile: 1 },
  });
  assert.equal(steady.status, 'ok');
});

test('two governors on one storage root hold the run-wide ceiling together, and share a throttle', async (t) => {
  const shared = new LocalStorage(tempDir('rate-live'));
  const ceiling = 20;
  const governors = [
    new RateGovernor(ceiling, { ceiling, shared }),
    new RateGovernor(ceiling, { ceiling, shared }),
  ];
  const url = `${mirror.url}/${keyOf('small')}`;
  const durationMs = 4000;
  const started = Date.now();
  // Four requests in flight per governor, as a worker with parallel files would send them.
  await Promise.all(
    governors.flatMap((governor) =>
      Array.from({ length: 4 }, async () => {
        for (;;) {
          await governor.acquire();
          if (Date.now() - started >= durationMs) return;
          await (await fetch(url)).arrayBuffer();
        }
      }),
    ),
  );
  const seconds = durationMs / 1000; // no request is sent later
  const requests = mirror.stats().requests;
  // A governor hears of another at its next sync (at most 1 s), so two starting together may
  // both send at the whole ceiling for one sync interval: ceiling × 1 s, plus each bucket's
  // first token. Two independent buckets would send 2 × ceiling × seconds (160).
  const tolerance = ceiling * 1 + 2;
  t.diagnostic(
    `${requests} requests in ${seconds} s, ceiling ${ceiling}/s, bound ${ceiling * seconds + tolerance}`,
  );
  assert.ok(
    requests <= ceiling * seconds + tolerance,
    `${requests} requests in ${seconds.toFixed(1)} s at a ceiling of ${ceiling}/s (+${tolerance})`,
  );
  assert.ok(requests >= ceiling * seconds * 0.7, `the ceiling is used, not starved: ${requests} requests`);
  assert.deepEqual(
    governors.map((g) => g.liveGovernors),
    [2, 2],
  );
  const [first, second] = governors as [RateGovernor, RateGovernor];
  const throttledAt = Date.now();
  await first.onThrottle();
  // The other governor hears of it at its next sync (1 s); a loaded machine may take longer.
  const deadline = throttledAt + 5_000;
  while (second.currentRate === ceiling && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    await second.acquire();
  }
  // It adopts the halved rate plus what that rate has recovered since (ceiling / 30 per second).
  const recovered = (ceiling / 30) * ((Date.now() - throttledAt) / 1000);
  assert.ok(
    second.currentRate <= ceiling / 2 + recovered + 0.01,
    `the other governor slowed to ${second.currentRate}/s (bound ${ceiling / 2} + ${recovered.toFixed(2)} recovered)`,
  );
});

test(
  'an S3 body that stalls is a timeout after its bounded attempts, not a hang',
  { timeout: 30_000 },
  async () => {
    // Regression: the S3 source ignored requestTimeoutMs, so a stalled GetObject body held its file,
    // its batch and a worker slot for as long as the connection lived.
    const stalling = createServer((_request, response) => {
      response.writeHead(200, {
        'Content-Length': '1000',
        ETag: '"e"',
        'Last-Modified': new Date(0).toUTCString(),
      });
      response.write(Buffer.alloc(10)); // and then nothing
    });
    await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
    const { port } = stalling.address() as AddressInfo;
    const credentials = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].filter((k) => !process.env[k]);
    for (const name of credentials) process.env[name] = 'testing';
    const s3Source = {
      kind: 's3' as const,
      bucket: 'b',
      prefix: '',
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
    };
    const s3 = sourceS3Client(s3Source)!;
    try {
      const outcome = await downloadFile({
        source: s3Source,
        key: keyOf('small'),
        partialPath: path.join(tempDir('dl-s3'), 'p'),
        governor: new RateGovernor(1000, { ceiling: 1000 }),
        retry: { ...retry, requestTimeoutMs: 200, maxAttemptsPerFile: 2 },
        s3,
      });
      assert.equal(outcome.status, 'quarantined');
      assert.match(outcome.status === 'quarantined' ? outcome.reason : '', /^timeout_after_2_attempts: /);
    } finally {
      s3.destroy();
      for (const name of credentials) delete process.env[name];
      stalling.closeAllConnections();
      stalling.close();
    }
  },
);

/** A storage root whose key list holds `keys`, and a batch 0 of them (up to 10 files, `parallelFiles` at once). */
async function batchOver(
  name: string,
  keys: string[],
  parallelFiles = 1,
): Promise<{ storage: LocalStorage; input: DownloadBatchInput }> {
  const storageRoot = tempDir(name);
  const storage = new LocalStorage(storageRoot);
  await storage.write('lists/keys.txt', keys.join('\n') + '\n');
  const input = {
    crawl,
    source: source(),
    storageRoot,
    keysPath: 'lists/keys.txt',
    listId: name,
    batch: 0,
    batchSize: 10,
    parallelFiles,
    maxRequestsPerSecond: 1000,
    retry,
  };
  return { storage, input };
}

test('a batch publishes whole files, records an inventory, and skips itself when committed', async () => {
  const keys = [keyOf('big'), keyOf('small'), keyOf('corrupt'), keyOf('absent')];
  const { storage, input } = await batchOver('dl-root', keys, 2);
  const beats: number[] = [];
  const result = await downloadBatch(input, { heartbeat: (d) => beats.push(d.completed.length) });
  assert.deepEqual(
    { files: result.files, ok: result.ok, quarantined: result.quarantined },
    { files: 4, ok: 2, quarantined: 2 },
  );
  assert.ok(beats.length >= 4 && beats.at(-1) === 4, 'heartbeats carry completed files');
  const inventory = await readInventory(storage, result.inventoryPart);
  assert.deepEqual(
    inventory.map((r) => r.key),
    [...keys].sort(),
  );
  for (const record of inventory.filter((r) => r.status === 'ok')) {
    assert.deepEqual(readFileSync(path.join(input.storageRoot, record.rawPath!)), sources[record.key]);
    assert.equal(record.sha256, sha(sources[record.key]!));
  }
  const corrupt = inventory.find((r) => r.key === keyOf('corrupt'));
  assert.match(
    corrupt?.rawPath ?? '',
    /^raw\/CC-MAIN-2018-05\/_quarantine\//,
    'corrupt bytes are kept aside',
  );
  assert.deepEqual(readFileSync(path.join(input.storageRoot, corrupt!.rawPath!)), sources[keyOf('corrupt')]);
  assert.equal(inventory.find((r) => r.key === keyOf('absent'))?.rawPath, null);
  assert.deepEqual(await storage.list('_staging/'), [], 'no partial files are left behind');
  const again = await downloadBatch(input);
  assert.equal(again.alreadyCommitted, true);
  assert.equal(again.ok, 2);
  // Batch 0 of another batch size is other keys: the part committed above is not its own.
  const resized = await downloadBatch({ ...input, batchSize: 3 });
  assert.equal(resized.alreadyCommitted, false);
  assert.equal(resized.files, 3);
});

test('a published file whose bytes no longer verify is downloaded again, not recorded', async () => {
  // Regression: a file found already published was recorded as ok whatever its verification said.
  const { storage, input } = await batchOver('dl-republish', [keyOf('small')]);
  await storage.write(rawPathFor(crawl, keyOf('small')), 'not gzip: damaged on disk');
  const result = await downloadBatch(input);
  assert.equal(result.ok, 1);
  const [record] = await readInventory(storage, result.inventoryPart);
  assert.equal(record?.sha256, sha(sources[keyOf('small')]!));
  assert.deepEqual(await storage.read(rawPathFor(crawl, keyOf('small'))), sources[keyOf('small')]);
});

test('a batch with a failing file stops its other files before it fails', async () => {
  // Regression: the batch used to reject at the first failure while its other files went on
  // downloading, into the partial files that the retried attempt resumes.
  mirror.setFaults({ bytesPerSecond: 300_000, keys: [keyOf('big')] });
  const outside = 'crawl-data/CC-MAIN-2099-01/segments/1/wet/outside.warc.wet.gz';
  const { storage, input } = await batchOver('dl-stop', [keyOf('big'), outside], 2);
  await assert.rejects(downloadBatch(input), UnsafePathError);
  const partial = path.join(storage.stagingDir(), 'download', rawPathFor(crawl, keyOf('big')));
  const onDisk = (): number => (existsSync(partial) ? statSync(partial).size : 0);
  const atFailure = onDisk();
  // Partial bytes are written 256 KiB at a time: more than enough time for the first write.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(onDisk(), atFailure, 'the other file is not written to once the batch has failed');
  assert.equal(await storage.exists(rawPathFor(crawl, keyOf('big'))), false, 'nor published');
});

test('a batch heartbeats while its files back off, and a cancel cuts the wait short', async () => {
  // Regression: heartbeats came only with bytes or retries, so files backing off for longer
  // than the heartbeat timeout got their attempt timed out and run twice at once.
  mirror.setFaults({ rate503: 1, retryAfterSeconds: 30, keys: [keyOf('small')] });
  const { input } = await batchOver('dl-idle', [keyOf('small')]);
  const cancel = new AbortController();
  const beats: number[] = [];
  const started = Date.now();
  // A longest backoff of a minute: the server's 30 s is honoured.
  const running = downloadBatch(
    { ...input, retry: { ...retry, maxDelayMs: 60_000 } },
    {
      heartbeat: () => beats.push(Date.now() - started),
      signal: cancel.signal,
      idleHeartbeatMs: 50,
    },
  );
  await new Promise((resolve) => setTimeout(resolve, 600));
  cancel.abort();
  await assert.rejects(running, { name: 'AbortError' });
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 5_000, `cancelled ${elapsed} ms after the start, not after Retry-After's 30 s`);
  const late = beats.filter((ms) => ms > 300);
  assert.ok(late.length >= 3, `heartbeats while waiting: ${JSON.stringify(beats)}`);
});

test("a crawl's key list is read once for all its batches, and each batch gets its own slice", async () => {
  class CountingStorage extends LocalStorage {
    reads = 0;
    override read(relPath: string): Promise<Buffer> {
      this.reads++;
      return super.read(relPath);
    }
  }
  const storage = new CountingStorage(tempDir('dl-keys'));
  const keys = Array.from({ length: 7 }, (_, i) => keyOf(`k${i}`));
  await storage.write('lists/keys.txt', keys.join('\n') + '\n');
  const input = { keysPath: 'lists/keys.txt', listId: 'first', batchSize: 3 };
  const slices = [];
  for (const batch of [0, 1, 2]) slices.push(await batchKeys(storage, { ...input, batch }));
  assert.deepEqual(slices, [keys.slice(0, 3), keys.slice(3, 6), keys.slice(6)]);
  assert.equal(storage.reads, 1, 'the list is not read again for every batch');
  // Another selection on the same path is another list (discover names lists by selection).
  await storage.write('lists/keys.txt', keys.slice(4).join('\n') + '\n');
  assert.deepEqual(await batchKeys(storage, { ...input, listId: 'second', batch: 0 }), keys.slice(4));
  assert.equal(storage.reads, 2);
});

test('finalizing merges every batch part, heartbeats as it reads, and refuses a missing part', async () => {
  const storageRoot = tempDir('dl-final');
  const storage = new LocalStorage(storageRoot);
  const record = (i: number): InventoryRecord => ({
    key: keyOf(`f${i}`),
    rawPath: null,
    bytes: i,
    sha256: null,
    status: i === 4 ? 'quarantined' : 'ok',
    reason: i === 4 ? 'gzip_corrupt: bad' : null,
    retries: 0,
  });
  for (const batch of [0, 1, 2])
    await writeInventory(storage, inventoryPartPath(crawl, 'sel', 2, batch), [
      record(2 * batch),
      record(2 * batch + 1),
    ]);
  const beats: number[] = [];
  const input = { crawl, storageRoot, listId: 'sel', batchSize: 2, batches: 3, expectedFiles: 6 };
  const result = await finalizeCrawlInventory(input, (partsRead) => beats.push(partsRead));
  assert.deepEqual(beats, [1, 2, 3], 'one heartbeat per part read');
  assert.deepEqual(
    { files: result.files, ok: result.ok, quarantined: result.quarantined, bytes: result.bytes },
    { files: 6, ok: 5, quarantined: 1, bytes: 15 },
  );
  assert.deepEqual(result.quarantinedReasons, { gzip_corrupt: 1 });
  assert.deepEqual(
    (await readInventory(storage, result.inventory)).map((r) => r.bytes),
    [0, 1, 2, 3, 4, 5],
  );
  await assert.rejects(finalizeCrawlInventory({ ...input, batches: 4 }), InventoryIncompleteError);
  // Parts cut to another batch size are another run's: never merged into this one.
  await assert.rejects(finalizeCrawlInventory({ ...input, batchSize: 3, batches: 2 }), /part missing/);
  await assert.rejects(
    finalizeCrawlInventory({ ...input, expectedFiles: 7 }),
    /has 6 files, discover chose 7/,
  );
});

test("a server's Retry-After is read in both forms and honoured only up to the longest backoff", () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  assert.equal(retryAfterMs('120', now), 120_000);
  assert.equal(retryAfterMs('Mon, 30 Nov 2026 12:00:30 GMT', now), 30_000, 'an HTTP date');
  assert.equal(retryAfterMs('Mon, 30 Nov 2026 11:00:00 GMT', now), 0, 'a date already past');
  for (const unreadable of [null, '', 'soon', '-5', '1.5']) assert.equal(retryAfterMs(unreadable, now), null);
  const policy: RetryPolicy = {
    maxTransientAttempts: 3,
    maxCorruptAttempts: 1,
    baseDelayMs: 10,
    maxDelayMs: 60_000,
  };
  // Before: a day's Retry-After held the file (and its batch) for a day.
  assert.equal(backoffMs(1, policy, 86_400_000), 60_000);
  assert.equal(backoffMs(1, policy, 30_000), 30_000, "a shorter wait is the server's");
});
