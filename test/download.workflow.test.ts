/**
 * The download stage through the real workflows: the Temporal dev server, a worker, the project's
 * mirror (HTTP) and the S3 emulator on loopback, over a generated miniature crawl.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { startBuildMixture } from '../cli/client';
import { downloadWorkflowId } from '../config/temporal';
import { readInventory } from '../core/download/inventory';
import { parsePathsList, pathsListKey, selectKeys, validateKeys } from '../core/discover';
import { readRecords } from '../core/download/rate-governor';
import { generateMiniCrawl, type MiniCrawlSummary } from '../core/minicrawl';
import { LocalStorage, s3Client } from '../core/storage';
import { mirrorUrl, s3Endpoint } from '../infra/services';
import type { BuildMixtureResult, DownloadCrawlProgress } from '../workflows';
import {
  startTestStack,
  tempDir,
  type TestServices,
  type TestStack,
  setMirrorFaults,
} from './helpers/services';

const crawls = ['CC-MAIN-2016-07', 'CC-MAIN-2018-47', 'CC-MAIN-2019-30'];
let services: TestServices;
let client: Client;
let stack: TestStack;
let crawlDir: string;
let miniCrawl: MiniCrawlSummary;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

const putFaults = (faults: object): Promise<void> => setMirrorFaults(services.settings, faults);

before(async () => {
  crawlDir = tempDir('mini');
  miniCrawl = await generateMiniCrawl({ outDir: crawlDir, size: 2, seed: 11, crawls });
  stack = await startTestStack(['temporal', 'mirror', 's3'], crawlDir);
  ({ services, client } = stack);
  process.env.AWS_ACCESS_KEY_ID ??= 'testing';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
  process.env.AWS_ENDPOINT_URL_S3 = s3Endpoint(services.settings);
});

after(() => stack?.stop());

function config(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    crawls,
    source: { kind: 'http', baseUrl: mirrorUrl(services.settings) },
    wetFilesPerCrawl: { fraction: 1 },
    stopAfter: 'download',
    storageRoot: tempDir('root'),
    download: {
      filesPerActivity: 2,
      maxConcurrentDownloads: 4,
      maxRequestsPerSecond: 500,
      retryBaseDelayMs: 20,
      retryMaxDelayMs: 200,
      heartbeatTimeoutSeconds: 10,
    },
    ...extra,
  };
}

async function run(
  input: Record<string, unknown>,
): Promise<{ workflowId: string; result: BuildMixtureResult }> {
  const { workflowId } = await startBuildMixture(client, input);
  return { workflowId, result: (await client.workflow.getHandle(workflowId).result()) as BuildMixtureResult };
}

function brokenKeys(): { key: string; breakage: string }[] {
  return JSON.parse(readFileSync(path.join(crawlDir, 'ground-truth', 'broken-files.json'), 'utf8')) as {
    key: string;
    breakage: string;
  }[];
}

test('the miniature crawl downloads byte-identical, with a complete inventory', async () => {
  const input = config('dl-full');
  const { result } = await run(input);
  const storageRoot = input.storageRoot as string;
  assert.equal(result.download.files, miniCrawl.files);
  assert.equal(result.download.ok + result.download.quarantined, miniCrawl.files);

  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    for (const crawl of crawls) {
      // DuckDB reads the inventory written by the project's Parquet library: an independent reader.
      const reader = await db.runAndReadAll(
        `SELECT key, raw_path, bytes, sha256, status, reason FROM read_parquet('${path.join(storageRoot, result.download.inventories[crawl] ?? '')}') ORDER BY key`,
      );
      const rows = reader.getRowObjectsJS() as {
        key: string;
        raw_path: string | null;
        bytes: bigint;
        sha256: string | null;
        status: string;
        reason: string | null;
      }[];
      assert.equal(
        rows.length,
        miniCrawl.perCrawl[crawl]?.files,
        `${crawl}: one inventory row per chosen file`,
      );
      for (const row of rows) {
        const source = readFileSync(path.join(crawlDir, row.key));
        if (row.status === 'ok') {
          assert.equal(row.sha256, sha256(source));
          assert.equal(Number(row.bytes), source.length);
          assert.deepEqual(readFileSync(path.join(storageRoot, row.raw_path ?? '')), source, row.key);
        } else {
          assert.match(row.reason ?? '', /^corrupt: /, `${row.key} quarantined for corruption`);
        }
      }
    }
  } finally {
    db.closeSync();
    instance.closeSync();
  }
  // Files whose gzip stream cannot decode to the end are exactly the quarantined ones.
  const undecodable = brokenKeys().filter(
    (b) => crawls.some((c) => b.key.includes(c)) && b.breakage !== 'bad_content_length',
  );
  assert.equal(result.download.quarantined, undecodable.length);
  assert.deepEqual(
    result.download.quarantinedReasons,
    undecodable.length ? { corrupt: undecodable.length } : {},
  );
  assert.deepEqual(await new LocalStorage(storageRoot).list('_staging/'), [], 'no partial files remain');

  const again = await run({ ...input, name: 'dl-full-again' });
  assert.equal(again.result.download.fetchedBytes, 0, 'a re-run skips every committed batch');
  assert.equal(again.result.download.ok, result.download.ok);
});

test('a 503/SlowDown storm slows the whole run, and the run completes', async () => {
  // The storm hits the WET files, not the paths lists that discover reads first.
  await putFaults({ storm503: 12, retryAfterSeconds: 0, seed: 3, keyPattern: '\\.warc\\.wet\\.gz$' });
  try {
    const input = config('dl-storm', {
      crawls: [crawls[0]],
      download: {
        filesPerActivity: 1,
        maxConcurrentDownloads: 2,
        maxRequestsPerSecond: 40,
        retryBaseDelayMs: 10,
        retryMaxDelayMs: 50,
      },
    });
    const { workflowId } = await startBuildMixture(client, input);
    const rates: number[] = [];
    const handle = client.workflow.getHandle(workflowId);
    const child = client.workflow.getHandle(downloadWorkflowId(workflowId, crawls[0] as string));
    let done = false;
    const result = handle.result().finally(() => (done = true)) as Promise<BuildMixtureResult>;
    while (!done) {
      const p = await child.query<DownloadCrawlProgress>('downloadProgress').catch(() => null);
      if (p && p.batchesDone > 0) rates.push(p.rate);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const final = await result;
    assert.equal(final.download.files, miniCrawl.perCrawl[crawls[0] as string]?.files);
    assert.ok(final.download.retries >= 12, `retries ${final.download.retries}`);
    const shared = await readRecords(new LocalStorage(input.storageRoot as string));
    const lowest = Math.min(...shared.map((r) => r.throttle?.rate ?? Infinity));
    assert.ok(lowest < 40 / 4, `the shared throttle fell to ${lowest}/s from 40/s`);
    assert.ok(rates.length > 0 && Math.min(...rates) < 40, `progress showed rates ${rates.join(', ')}`);
  } finally {
    await putFaults({});
  }
});

test('truncated bodies are retried and resumed; the files still arrive whole', async () => {
  const crawl = crawls[2] as string;
  await putFaults({
    truncate: 1,
    truncateFraction: 0.3,
    forRequests: 3,
    keyPattern: '\\.warc\\.wet\\.gz$',
    seed: 5,
  });
  try {
    const input = config('dl-truncated', { crawls: [crawl] });
    const { result } = await run(input);
    const broken = new Set(brokenKeys().map((b) => b.key));
    const inventory = await readInventory(
      new LocalStorage(input.storageRoot as string),
      result.download.inventories[crawl] ?? '',
    );
    assert.ok(result.download.retries >= 3, `retries ${result.download.retries}`);
    for (const row of inventory.filter((r) => !broken.has(r.key))) {
      assert.equal(row.status, 'ok', row.key);
      assert.equal(row.sha256, sha256(readFileSync(path.join(crawlDir, row.key))), row.key);
    }
  } finally {
    await putFaults({});
  }
});

test('404 and 403 are quarantined with their reasons, never failing the run', async () => {
  const crawl = crawls[1] as string;
  const broken = new Set(brokenKeys().map((b) => b.key));
  const healthy = (await new LocalStorage(crawlDir).list(`crawl-data/${crawl}/segments/`)).filter(
    (k) => !broken.has(k),
  );
  const [gone, forbidden] = healthy;
  assert.ok(gone && forbidden);
  await putFaults({ status404: [gone], status403: [forbidden] });
  try {
    const input = config('dl-missing', { crawls: [crawl] });
    const { result } = await run(input);
    const rows = JSON.stringify(result.download.quarantinedReasons);
    assert.equal(result.download.quarantinedReasons.http_404, 1, rows);
    assert.equal(result.download.quarantinedReasons.http_403, 1, rows);
    assert.equal(result.download.ok + result.download.quarantined, miniCrawl.perCrawl[crawl]?.files);
  } finally {
    await putFaults({});
  }
});

test('a key that always answers 503 is quarantined after its bounded attempts; the crawl completes', async () => {
  const crawl = crawls[1] as string;
  const broken = new Set(brokenKeys().map((b) => b.key));
  const healthy = (await new LocalStorage(crawlDir).list(`crawl-data/${crawl}/segments/`)).filter(
    (k) => k.endsWith('.warc.wet.gz') && !broken.has(k),
  );
  const stuck = healthy[0] as string;
  // 503 with Retry-After: 0 on every request for this one key, for ever.
  await putFaults({ rate503: 1, retryAfterSeconds: 0, keys: [stuck] });
  await fetch(`${mirrorUrl(services.settings)}_mirror/stats/reset`, { method: 'POST' });
  try {
    const input = config('dl-stuck', {
      crawls: [crawl],
      download: {
        filesPerActivity: 2,
        maxConcurrentDownloads: 4,
        maxRequestsPerSecond: 500,
        retryBaseDelayMs: 5,
        retryMaxDelayMs: 20,
        heartbeatTimeoutSeconds: 10,
        // Two failures per activity attempt, then Temporal retries the batch: the bound of five
        // is reached only by counting across activity attempts.
        maxTransientAttemptsPerFile: 2,
        maxAttemptsPerFile: 5,
      },
    });
    const { result } = await run(input);
    const rows = await readInventory(
      new LocalStorage(input.storageRoot as string),
      result.download.inventories[crawl] ?? '',
    );
    const row = rows.find((r) => r.key === stuck);
    assert.equal(row?.status, 'quarantined');
    assert.match(row?.reason ?? '', /^http_503_after_5_attempts: /);
    assert.equal(row?.retries, 5);
    const served = (await (await fetch(`${mirrorUrl(services.settings)}_mirror/stats`)).json()) as {
      requestsByKey: Record<string, number>;
    };
    assert.equal(served.requestsByKey[stuck], 5, 'five requests, then the key was given up');
    for (const r of rows.filter((x) => x.key !== stuck && !broken.has(x.key))) {
      assert.equal(r.status, 'ok', r.key);
      assert.equal(r.sha256, sha256(readFileSync(path.join(crawlDir, r.key))), r.key);
    }
    assert.equal(rows.length, miniCrawl.perCrawl[crawl]?.files);
    assert.equal(result.download.quarantinedReasons.http_503_after_5_attempts, 1);
  } finally {
    await putFaults({});
  }
});

test('two selections on one storage root keep their own inventories', async () => {
  const crawl = crawls[0] as string;
  const storageRoot = tempDir('shared-root');
  const half = await run(
    config('dl-half', { crawls: [crawl], storageRoot, wetFilesPerCrawl: { fraction: 0.5 } }),
  );
  const other = await run(config('dl-seed', { crawls: [crawl], storageRoot, seed: 7 }));
  const again = await run(
    config('dl-half-again', { crawls: [crawl], storageRoot, wetFilesPerCrawl: { fraction: 0.5 } }),
  );
  const listed = validateKeys(
    crawl,
    parsePathsList(readFileSync(path.join(crawlDir, pathsListKey(crawl)))),
  ).valid;
  const storage = new LocalStorage(storageRoot);
  const keysOf = async (result: BuildMixtureResult): Promise<string[]> =>
    (await readInventory(storage, result.download.inventories[crawl] ?? '')).map((r) => r.key).sort();
  const wantHalf = selectKeys(listed, { fraction: 0.5 }, 20200528).sort();
  assert.ok(wantHalf.length < listed.length, 'the half selection is a strict subset');
  assert.notEqual(half.result.download.inventories[crawl], other.result.download.inventories[crawl]);
  // Read after the second selection ran: the first one's inventory is still its own.
  assert.deepEqual(await keysOf(half.result), wantHalf);
  assert.deepEqual(await keysOf(other.result), [...listed].sort());
  assert.equal(again.result.download.inventories[crawl], half.result.download.inventories[crawl]);
  assert.equal(again.result.download.fetchedBytes, 0, 'the same selection again finds its files');
});

test('S3 as the source and as the storage root, through the emulator', async () => {
  const s3 = s3Client({ endpoint: s3Endpoint(services.settings) });
  const crawl = crawls[2] as string;
  await s3.send(new CreateBucketCommand({ Bucket: 'cc-source' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'ccmix-out' }));
  const sourceFiles = new LocalStorage(crawlDir);
  const keys = (await sourceFiles.list(`crawl-data/${crawl}/`)).filter((k) => k.endsWith('.gz'));
  for (const key of keys) {
    await s3.send(
      new PutObjectCommand({ Bucket: 'cc-source', Key: `mirror/${key}`, Body: await sourceFiles.read(key) }),
    );
  }
  const input = config('dl-s3', {
    crawls: [crawl],
    source: { kind: 's3', bucket: 'cc-source', prefix: 'mirror/', endpoint: s3Endpoint(services.settings) },
    storageRoot: 's3://ccmix-out/runs/one',
  });
  const { result } = await run(input);
  assert.equal(result.download.files, miniCrawl.perCrawl[crawl]?.files);
  for (const key of keys.filter((k) => k.endsWith('.warc.wet.gz'))) {
    const rawKey = `runs/one/raw/${crawl}/${key.slice(`crawl-data/${crawl}/`.length)}`;
    const isBroken = brokenKeys().some((b) => b.key === key && b.breakage !== 'bad_content_length');
    if (isBroken) continue;
    const out = await s3.send(new GetObjectCommand({ Bucket: 'ccmix-out', Key: rawKey }));
    const body = Buffer.from(await out.Body!.transformToByteArray());
    assert.equal(sha256(body), sha256(await sourceFiles.read(key)), rawKey);
  }
  const inventory = await s3.send(
    new GetObjectCommand({ Bucket: 'ccmix-out', Key: `runs/one/${result.download.inventories[crawl]}` }),
  );
  assert.ok((await inventory.Body!.transformToByteArray()).length > 0);
  s3.destroy();
});
