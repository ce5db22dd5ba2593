/**
 * buildMixture on the real dev server with real Spark (local), over a small miniature crawl served
 * by the mirror: cancelling during a Spark job leaves no process and no committed output, and a
 * failed crawl's extraction is redone alone. The complete pipeline, its re-run from a Schedule and
 * a changed α are checked in test/faults/faults.test.ts, on its reference run.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CancelledFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { startBuildMixture } from '../cli/client';
import { REFERENCE_CORPORA } from '../config/schema';
import { generateMiniCrawl } from '../core/minicrawl';
import { LocalStorage } from '../core/storage';
import { mirrorUrl } from '../infra/services';
import type { BuildMixtureResult } from '../workflows';
import { taggedProcesses } from '../core/spark/orphans';
import { startTestStack, tempDir, type TestServices, type TestStack } from './helpers/services';

const crawls = ['CC-MAIN-2016-50', 'CC-MAIN-2019-09'];
/** A small mixture: 97 rows of 2048 ids. */
const MIX_TOKENS = 200_000;
let services: TestServices;
let client: Client;
let stack: TestStack;
let crawlDir: string;

before(async () => {
  crawlDir = tempDir('quality-crawl');
  await generateMiniCrawl({ outDir: crawlDir, size: 1, seed: 21, crawls });
  stack = await startTestStack(['temporal', 'mirror'], crawlDir);
  ({ services, client } = stack);
});

after(() => stack?.stop());

/** Every process tagged as this (in-process) worker's Spark job, whatever its process group. */
const ownSparkProcesses = (): number[] =>
  taggedProcesses()
    .filter((p) => p.owner.pid === process.pid)
    .map((p) => p.pid);

const sparkOf = (c: Record<string, unknown>): Record<string, unknown> => c.spark as Record<string, unknown>;

function config(name: string, storageRoot: string): Record<string, unknown> {
  return {
    name,
    crawls,
    source: { kind: 'http', baseUrl: mirrorUrl(services.settings) },
    wetFilesPerCrawl: { fraction: 1 },
    storageRoot,
    referenceCorpora: Object.fromEntries(
      REFERENCE_CORPORA.map((c) => [c, { path: path.join(crawlDir, 'reference', c), format: 'jsonl' }]),
    ),
    spark: { master: 'local[2]', driverMemory: '1g' },
    // Two crawls at α = 9 keep a few short pages, under one 2048-id row; α = 2 keeps a quarter of
    // even the lowest-scored pages, so Common Crawl has rows to mix.
    pareto: { alpha: 2 },
    mixture: { totalTokens: MIX_TOKENS },
    report: { groundTruth: path.join(crawlDir, 'ground-truth') },
  };
}

test('cancelling the workflow during a Spark job leaves no Spark process and no committed output', async () => {
  const storageRoot = tempDir('quality-cancel');
  // spark-submit, so the job's processes (PySpark's daemon in its own group too) are this worker's.
  const base = config('quality-cancel', storageRoot);
  const { workflowId } = await startBuildMixture(client, {
    ...base,
    spark: { ...sparkOf(base), jobServer: 'never' },
  });
  const handle = client.workflow.getHandle(workflowId);
  const deadline = Date.now() + 120_000;
  while (ownSparkProcesses().length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.ok(ownSparkProcesses().length > 0, 'a Spark job started');
  await handle.cancel();
  await assert.rejects(handle.result(), (error: unknown) => {
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof CancelledFailure);
    return true;
  });
  // The activity learns of the cancellation at its next heartbeat, then kills the group.
  const gone = Date.now() + 30_000;
  while (ownSparkProcesses().length > 0 && Date.now() < gone) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.deepEqual(ownSparkProcesses(), [], 'no Spark process is left');
  const committed = (await new LocalStorage(storageRoot).list('spark/')).filter((f) =>
    f.endsWith('_SUCCESS'),
  );
  assert.deepEqual(committed, [], 'no Spark stage was committed');
});

test('a failed crawl’s extraction is redone alone: the other crawl stays committed', async () => {
  const storageRoot = tempDir('quality-retry');
  const storage = new LocalStorage(storageRoot);
  const download = await startBuildMixture(client, {
    ...config('retry-download', storageRoot),
    stopAfter: 'download',
  });
  await client.workflow.getHandle(download.workflowId).result();
  // One WET file of the second crawl vanishes after download: its extraction cannot run.
  const [healthy, broken] = crawls as [string, string];
  const victim = (await storage.list(`raw/${broken}/`)).find((k) => k.endsWith('.warc.wet.gz'));
  assert.ok(victim, 'a downloaded file to remove');
  const bytes = await storage.read(victim);
  await storage.remove(victim);
  // A byte bound below one crawl: each crawl is an extraction job of its own, as at the paper's size.
  const perCrawl = { extract: { maxBytesPerJob: 1 } };
  const failing = await startBuildMixture(client, { ...config('retry-fail', storageRoot), ...perCrawl });
  await assert.rejects(client.workflow.getHandle(failing.workflowId).result(), WorkflowFailedError);
  const committed = async (stage: string): Promise<boolean> =>
    (await storage.list(`spark/${stage}/`)).some((k) => k.endsWith('/_SUCCESS'));
  assert.equal(await committed(`extract-${healthy}`), true, 'the healthy crawl committed');
  assert.equal(await committed(`extract-${broken}`), false);

  await storage.write(victim, bytes);
  const retry = await startBuildMixture(client, {
    ...config('retry-ok', storageRoot),
    ...perCrawl,
    stopAfter: 'classify',
  });
  const result = (await client.workflow.getHandle(retry.workflowId).result()) as BuildMixtureResult;
  assert.equal(result.quality?.extract[healthy]?.skipped, true, 'the committed crawl is not redone');
  assert.equal(result.quality?.extract[broken]?.skipped, false, 'the failed crawl runs again');
});
