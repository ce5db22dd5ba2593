/**
 * Pause, resume and download limits of a running buildMixture through the real workflows: the
 * Temporal dev server, an in-process worker and the project's mirror on loopback, slowed by its
 * latency fault so that the download (or discovery) lasts long enough to steer. The CLI is driven
 * as a user would.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { NoWorkerAnswerError, runStatus, startBuildMixture } from '../cli/client';
import { pauseRun, resumeRun, setDownloadLimits } from '../cli/run-controls';
import { watchRun } from '../cli/watch';
import { downloadWorkflowId } from '../config/temporal';
import type { DownloadBatchInput } from '../core/download/batch';
import { generateMiniCrawl, type MiniCrawlSummary } from '../core/minicrawl';
import { mirrorUrl, temporalAddress } from '../infra/services';
import type { BuildMixtureProgress, BuildMixtureResult, DownloadCrawlProgress } from '../workflows';
import { ccmix, type CliResult } from './helpers/cli';
import { startTestStack, tempDir, type TestStack, setMirrorFaults } from './helpers/services';

const crawls = ['CC-MAIN-2016-07', 'CC-MAIN-2018-47'] as const;
let stack: TestStack;
let client: Client;
let miniCrawl: MiniCrawlSummary;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

const cli = (...args: string[]): Promise<CliResult> => ccmix(args, temporalAddress(stack.services.settings));

const putFaults = (faults: object): Promise<void> => setMirrorFaults(stack.services.settings, faults);

/** A run of both crawls on a fresh storage root that stops after download. */
const startDownloadRun = (name: string, download: object): Promise<{ workflowId: string }> =>
  startBuildMixture(client, {
    name,
    crawls,
    source: { kind: 'http', baseUrl: mirrorUrl(stack.services.settings) },
    wetFilesPerCrawl: { fraction: 1 },
    stopAfter: 'download',
    storageRoot: tempDir('root'),
    download,
  });

const downloadProgress = (child: WorkflowHandle): Promise<DownloadCrawlProgress | null> =>
  child.query<DownloadCrawlProgress>('downloadProgress').catch(() => null);

async function batchesInFlight(child: WorkflowHandle): Promise<number> {
  return ((await child.describe()).raw.pendingActivities ?? []).length;
}

/** What each downloadBatch of a workflow was given, in the order they were scheduled. */
async function batchInputs(child: WorkflowHandle): Promise<DownloadBatchInput[]> {
  const converter = client.options.loadedDataConverter.payloadConverter;
  return ((await child.fetchHistory()).events ?? []).flatMap((event) => {
    const scheduled = event.activityTaskScheduledEventAttributes;
    const payload = scheduled?.input?.payloads?.[0];
    if (scheduled?.activityType?.name !== 'downloadBatch' || !payload) return [];
    return [converter.fromPayload<DownloadBatchInput>(payload)];
  });
}

before(async () => {
  const crawlDir = tempDir('mini');
  miniCrawl = await generateMiniCrawl({ outDir: crawlDir, size: 2, seed: 11, crawls: [...crawls] });
  stack = await startTestStack(['temporal', 'mirror'], crawlDir);
  client = stack.client;
});

after(() => stack?.stop());

test('a paused run starts no batch; new limits reach running and later children; resumed, it completes', async () => {
  // Every WET file answers after 700 ms: a one-file batch lasts about that long.
  await putFaults({ latencyMs: 700, keyPattern: '\\.warc\\.wet\\.gz$' });
  try {
    // One crawl at a time, so the second child starts after the change.
    const { workflowId } = await startDownloadRun('signals', {
      maxConcurrentCrawls: 1,
      filesPerActivity: 1,
      maxConcurrentDownloads: 2,
      maxRequestsPerSecond: 500,
      heartbeatTimeoutSeconds: 10,
    });
    const run = client.workflow.getHandle(workflowId);
    const progress = (): Promise<BuildMixtureProgress> => run.query<BuildMixtureProgress>('progress');
    const [first, second] = crawls.map((crawl) =>
      client.workflow.getHandle(downloadWorkflowId(workflowId, crawl)),
    ) as [WorkflowHandle, WorkflowHandle];
    await until('the first crawl has a batch done', async () => {
      return ((await downloadProgress(first))?.batchesDone ?? 0) >= 1;
    });

    const before = { maxConcurrentDownloads: 2, maxRequestsPerSecond: 500 };
    assert.deepEqual(await pauseRun(client, workflowId), { paused: true, limits: before, filesInFlight: 2 });
    assert.equal((await progress()).paused, true);
    assert.equal((await downloadProgress(first))?.paused, true, 'the running child heard of the pause');

    // The batch in flight finishes; then nothing starts and no file arrives.
    await until('no batch is in flight', async () => (await batchesInFlight(first)) === 0);
    const held = await downloadProgress(first);
    assert.ok(held && held.batchesDone < held.batches, `paused at ${held?.batchesDone}/${held?.batches}`);
    await sleep(2000);
    assert.equal(await batchesInFlight(first), 0, 'no batch started while paused');
    const still = await downloadProgress(first);
    assert.deepEqual([still?.batchesDone, still?.files], [held.batchesDone, held.files]);

    // Refused by the run's validator, in one line, and never recorded.
    await assert.rejects(setDownloadLimits(client, workflowId, { maxConcurrentDownloads: 0 }), {
      message: `setDownloadLimits ${workflowId}: maxConcurrentDownloads must be a positive integer, got 0`,
    });
    const refused = await cli('limits', workflowId, '--rate', '0');
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      `ccmix: setDownloadLimits ${workflowId}: maxRequestsPerSecond must be a positive number, got 0\n`,
    );

    const changed = await cli('limits', workflowId, '--concurrency', '3', '--rate', '7.5', '--json');
    assert.equal(changed.code, 0, changed.stderr);
    const after = { maxConcurrentDownloads: 3, maxRequestsPerSecond: 7.5 };
    assert.deepEqual(JSON.parse(changed.stdout), { paused: true, limits: after, filesInFlight: 3 });
    assert.deepEqual((await progress()).limits, after);
    assert.deepEqual((await downloadProgress(first))?.limits, {
      parallelFiles: 3,
      maxRequestsPerSecond: 7.5,
    });

    // The rest of the run needs no slow mirror.
    await putFaults({});
    assert.deepEqual(await resumeRun(client, workflowId), { paused: false, limits: after, filesInFlight: 3 });
    const result = (await run.result()) as BuildMixtureResult;
    assert.equal(result.download.files, miniCrawl.files);
    assert.equal(result.download.ok + result.download.quarantined, miniCrawl.files);
    assert.equal((await progress()).paused, false);

    // Batches took the limits current at their start: the first crawl's old ones before the pause,
    // the new ones after; the second crawl, started later, got them in its input.
    const limitsOf = (b: DownloadBatchInput): [number, number] => [b.parallelFiles, b.maxRequestsPerSecond];
    const firstBatches = await batchInputs(first);
    assert.deepEqual(firstBatches.map(limitsOf), [
      ...Array.from({ length: held.batchesDone }, () => [2, 500]),
      ...Array.from({ length: held.batches - held.batchesDone }, () => [3, 7.5]),
    ]);
    const secondBatches = await batchInputs(second);
    assert.ok(secondBatches.length > 0);
    assert.deepEqual(new Set(secondBatches.map((b) => limitsOf(b).join())), new Set(['3,7.5']));

    // The run's history holds the three accepted updates, not the refused ones.
    const accepted = ((await run.fetchHistory()).events ?? []).flatMap((event) => {
      const name = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
      return name ? [name] : [];
    });
    assert.deepEqual(accepted, ['pause', 'setDownloadLimits', 'resume']);
  } finally {
    await putFaults({});
  }
});

test('limits answer with the files in flight they give when the crawls downloading outnumber them', async () => {
  // Before: "1 files in flight" while two crawls downloaded a file each.
  await putFaults({ latencyMs: 3000, keyPattern: '\\.warc\\.wet\\.gz$' });
  try {
    const { workflowId } = await startDownloadRun('limits-lanes', {
      maxConcurrentCrawls: 2,
      filesPerActivity: 1,
      maxConcurrentDownloads: 4,
    });
    const children = crawls.map((crawl) => client.workflow.getHandle(downloadWorkflowId(workflowId, crawl)));
    await until('both crawls download at once', async () => {
      const running = await Promise.all(children.map((child) => downloadProgress(child)));
      return running.every((p) => p !== null);
    });
    const changed = await cli('limits', workflowId, '--concurrency', '1');
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(
      changed.stdout,
      /downloads: 1 files in flight asked, up to 2 in effect \(split over the crawls/,
    );
    await putFaults({});
    await client.workflow.getHandle(workflowId).result();
  } finally {
    await putFaults({});
  }
});

test('a run paused while discovering starts no next discovery and no download; resumed, it completes', async () => {
  // Every crawl's paths list answers after 4 s: one discovery at a time lasts about that long.
  await putFaults({ latencyMs: 4000, keyPattern: 'wet\\.paths\\.gz$' });
  try {
    const { workflowId } = await startDownloadRun('pause-discover', { maxConcurrentCrawls: 1 });
    const run = client.workflow.getHandle(workflowId);
    const pending = async (): Promise<string[]> =>
      ((await run.describe()).raw.pendingActivities ?? []).map((a) => a.activityType?.name ?? '');
    await until('the first discovery is in flight', async () => (await pending()).includes('discoverCrawl'));
    assert.equal((await pauseRun(client, workflowId)).paused, true);

    // The discovery in flight finishes; then nothing is scheduled while the run is paused.
    await until('no activity is in flight', async () => (await pending()).length === 0);
    await putFaults({});
    await sleep(3000);
    assert.deepEqual(await pending(), [], 'no activity started while paused');
    const progress = await run.query<BuildMixtureProgress>('progress');
    assert.equal(progress.stage, 'discover');
    assert.deepEqual([progress.discover.done, progress.discover.total], [1, crawls.length]);
    assert.equal(progress.paused, true);

    await resumeRun(client, workflowId);
    const result = (await run.result()) as BuildMixtureResult;
    assert.equal(result.crawls, crawls.length, 'every crawl discovered after the resume');
    assert.equal(result.download.files, miniCrawl.files);

    // In the history: the first discovery before the pause, nothing scheduled or started between
    // pause and resume, the second discovery and the downloads after.
    const timeline = ((await run.fetchHistory()).events ?? []).flatMap((event) => {
      const update = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
      if (update) return [update];
      const activity = event.activityTaskScheduledEventAttributes?.activityType?.name;
      if (activity) return [activity];
      return event.startChildWorkflowExecutionInitiatedEventAttributes ? ['downloadCrawl'] : [];
    });
    const resumedAt = timeline.indexOf('resume');
    assert.deepEqual(timeline.slice(0, resumedAt + 1), ['discoverCrawl', 'pause', 'resume']);
    const afterResume = timeline.slice(resumedAt + 1);
    assert.equal(afterResume[0], 'discoverCrawl', 'the second discovery comes after the resume');
    assert.deepEqual(
      afterResume.filter((name) => name === 'downloadCrawl'),
      crawls.map(() => 'downloadCrawl'),
    );
  } finally {
    await putFaults({});
  }
});

/** The first error `runStatus` gives for a run within `timeoutMs`, or undefined if none came. */
async function firstStatusError(workflowId: string, timeoutMs: number): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const error = await runStatus(client, workflowId).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (error !== undefined) return error;
    await sleep(500);
  }
  return undefined;
}

test('status --watch outlives the worker: it says nobody answers, goes on when one is back, and ends with the run', async () => {
  // One run that has ended, and one that waits, paused, while its worker is away.
  const ended = await startDownloadRun('watch-ended', {});
  await client.workflow.getHandle(ended.workflowId).result();
  const { workflowId } = await startDownloadRun('watch-no-worker', {});
  await pauseRun(client, workflowId);
  let drawn = '';
  const frames = new Writable({
    write(chunk: Buffer, _encoding, done) {
      drawn += chunk.toString();
      done();
    },
  });
  const watched = watchRun(client, workflowId, { intervalMs: 200, stream: frames });
  watched.catch(() => undefined); // awaited below
  try {
    await until('the watch draws its bars', () => /^discover +\[/m.test(drawn));
    await stack.stopWorker();
    // The server refuses queries once no worker has polled for a while (about 30 s here).
    const endedRefusal = firstStatusError(ended.workflowId, 120_000);
    await until('the watch says no worker answers', () => drawn.includes('waiting: '), 120_000);
    assert.match(
      drawn,
      new RegExp(`waiting: ${workflowId} is RUNNING, but no worker answers its progress query`),
    );
    // A closed run's progress is a query too: without a worker, `ccmix status` says so.
    const refusal = await endedRefusal;
    assert.ok(refusal instanceof NoWorkerAnswerError, String(refusal));
    assert.equal(refusal.runState, 'COMPLETED');

    await stack.startWorker();
    // The watch hears from the new worker; only then is the run resumed, so that this test is
    // about the watch (an update that meets the takeover is sent again: run-controls.test.ts).
    await until('the watch hears from the new worker', () => drawn.includes('answered again'), 60_000);
    assert.ok(drawn.indexOf('answered again') > drawn.indexOf('waiting: '), drawn.slice(-400));
    await resumeRun(client, workflowId);
    assert.equal((await watched).status, 'COMPLETED', 'the watch follows the run to its end');
  } finally {
    await stack.startWorker();
  }
});
