/**
 * buildMixture through extract → train → filter on the real dev server with real Spark (local),
 * over a small miniature crawl served by the mirror: the stages run, a re-run skips them all,
 * and cancelling during a Spark job leaves no process and no committed output.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CancelledFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { runStatus, startBuildMixture } from '../cli/client';
import { REFERENCE_CORPORA } from '../config/schema';
import { generateMiniCrawl } from '../core/minicrawl';
import { LocalStorage } from '../core/storage';
import { mirrorUrl } from '../infra/services';
import type { BuildMixtureResult } from '../workflows';
import {
  sparkProcessesFor,
  startTestStack,
  tempDir,
  type TestServices,
  type TestStack,
} from './helpers/services';

const crawls = ['CC-MAIN-2016-50', 'CC-MAIN-2019-09'];
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
  };
}

test('download, extract, reference corpora, classifier and Pareto filter run; a re-run skips them', async () => {
  const storageRoot = tempDir('quality-root');
  const { workflowId } = await startBuildMixture(client, config('quality', storageRoot));
  // What `ccmix status` shows while Spark runs: the running job's stage and task counts.
  let finished = false;
  const pending = client.workflow
    .getHandle(workflowId)
    .result()
    .finally(() => (finished = true)) as Promise<BuildMixtureResult>;
  const seen = new Set<string>();
  while (!finished) {
    const live = (await runStatus(client, workflowId).catch(() => null))?.sparkLive;
    if (live?.spark && live.spark.tasksTotal > 0) seen.add(live.stage);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const result = await pending;
  assert.ok(seen.size >= 1, 'status showed a running Spark job with its task counts');
  const q = result.quality;
  assert.ok(q, 'the quality stage ran');
  assert.equal(q.extract.skipped, false);
  assert.ok(q.extract.rowsKept > 0 && q.extract.rowsKept <= q.extract.rowsIn);
  for (const name of REFERENCE_CORPORA) assert.ok((q.references[name]?.rowsKept ?? 0) > 0, name);
  assert.equal(typeof q.classifier.extra.holdout_auc, 'number');
  assert.equal(q.filter.rowsIn, q.extract.rowsKept, 'the filter sees every extracted document');
  assert.ok(
    q.filter.rowsKept > 0 && q.filter.rowsKept < q.filter.rowsIn,
    'the Pareto rule keeps some, not all',
  );
  const status = await runStatus(client, workflowId);
  assert.deepEqual(
    Object.values(status.progress.spark).map((s) => s.state),
    ['done', 'done', 'done', 'done', 'done', 'done', 'done'],
  );

  const again = await startBuildMixture(client, config('quality-again', storageRoot));
  const rerun = (await client.workflow.getHandle(again.workflowId).result()) as BuildMixtureResult;
  const r = rerun.quality!;
  assert.ok([r.extract, r.classifier, r.filter, ...Object.values(r.references)].every((s) => s.skipped));
  assert.equal(r.filter.rowsKept, q.filter.rowsKept);
  assert.equal(rerun.download.fetchedBytes, 0);
});

test('cancelling the workflow during a Spark job leaves no spark-submit and no committed output', async () => {
  const storageRoot = tempDir('quality-cancel');
  const { workflowId } = await startBuildMixture(client, config('quality-cancel', storageRoot));
  const handle = client.workflow.getHandle(workflowId);
  const deadline = Date.now() + 120_000;
  while (sparkProcessesFor(storageRoot).length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.ok(sparkProcessesFor(storageRoot).length > 0, 'a Spark job started');
  await handle.cancel();
  await assert.rejects(handle.result(), (error: unknown) => {
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof CancelledFailure);
    return true;
  });
  // The activity learns of the cancellation at its next heartbeat, then kills the group.
  const gone = Date.now() + 30_000;
  while (sparkProcessesFor(storageRoot).length > 0 && Date.now() < gone) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.deepEqual(sparkProcessesFor(storageRoot), [], 'no Spark process is left');
  const committed = (await new LocalStorage(storageRoot).list('spark/')).filter((f) =>
    f.endsWith('_SUCCESS'),
  );
  assert.deepEqual(committed, [], 'no Spark stage was committed');
});
