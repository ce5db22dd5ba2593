/**
 * buildMixture end to end (download → extract → train → filter → dedup → mix → verify → manifest)
 * on the real dev server with real Spark (local), over a small miniature crawl served by the
 * mirror: the stages run, a re-run skips them all, and cancelling during a Spark job leaves no
 * process and no committed output.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CancelledFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { queryProgress, runStatus, startBuildMixture } from '../cli/client';
import { changeSchedule, createSchedule, describeSchedule } from '../cli/schedule';
import { REFERENCE_CORPORA } from '../config/schema';
import { generateMiniCrawl } from '../core/minicrawl';
import type { Manifest } from '../core/mix/manifest';
import type { RunReport } from '../core/report/report';
import { LocalStorage } from '../core/storage';
import { mirrorUrl } from '../infra/services';
import type { BuildMixtureProgress, BuildMixtureResult } from '../workflows';
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

test('the whole pipeline ends in a verified mixture with its manifest; a re-run skips every stage', async () => {
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
  assert.deepEqual(Object.keys(q.extract).sort(), [...crawls].sort(), 'one extraction per crawl');
  for (const e of Object.values(q.extract)) {
    assert.equal(e.skipped, false);
    assert.ok(e.rowsKept > 0 && e.rowsKept <= e.rowsIn);
  }
  const extractedDocs = Object.values(q.extract).reduce((n, e) => n + e.rowsKept, 0);
  for (const name of REFERENCE_CORPORA) assert.ok((q.references[name]?.rowsKept ?? 0) > 0, name);
  assert.equal(typeof q.classifier.extra.holdout_auc, 'number');
  assert.equal(q.filter.rowsIn, extractedDocs, 'the filter sees every extracted document');
  assert.ok(
    q.filter.rowsKept > 0 && q.filter.rowsKept < q.filter.rowsIn,
    'the Pareto rule keeps some, not all',
  );
  // Dedup sees every filtered Common Crawl document and every reference document, and its
  // counts add up (a dropped row without a reason, or a dataset not passed, breaks them).
  const d = result.dedup;
  assert.ok(d, 'the dedup stage ran');
  const referenceDocs = REFERENCE_CORPORA.reduce((n, c) => n + (q.references[c]?.rowsKept ?? 0), 0);
  assert.equal(d.rowsIn, q.filter.rowsKept + referenceDocs);
  const droppedByDedup = Object.values(d.droppedByReason).reduce((a, b) => a + b, 0);
  assert.equal(d.rowsKept + droppedByDedup, d.rowsIn);
  // The generator plants near-duplicates in every dataset: a dedup that finds none is broken.
  assert.ok((d.droppedByReason.near_duplicate ?? 0) > 0, JSON.stringify(d.droppedByReason));

  // The mixture: verified, the planned rows, and a manifest that names the files it describes.
  const m = result.mixture;
  assert.ok(m, 'the mixture was written');
  assert.equal(m.rows, Math.floor(MIX_TOKENS / 2048));
  assert.deepEqual(
    m.checks.filter((c) => !c.ok),
    [],
  );
  const manifest = JSON.parse(readFileSync(m.manifest, 'utf8')) as Manifest;
  assert.equal(manifest.verification.ok, true);
  assert.equal(manifest.fingerprints.stages.dedup, d.fingerprint);
  for (const file of manifest.files) {
    const content: Buffer = readFileSync(path.join(path.dirname(m.manifest), file.path));
    assert.equal(createHash('sha256').update(content).digest('hex'), file.sha256, file.path);
  }
  assert.equal(
    manifest.sources.reduce((n, s) => n + (s.rows ?? 0), 0),
    m.rows,
  );

  const status = await runStatus(client, workflowId);
  assert.deepEqual(
    Object.values(status.progress.spark).map((s) => s.state),
    Array.from({ length: crawls.length + REFERENCE_CORPORA.length + 2 + 3 }, () => 'done'),
  );

  // A Temporal Schedule re-runs the same config: every stage is skipped by its fingerprint, nothing
  // is downloaded, no Spark job is submitted, and the manifest comes out byte for byte the same.
  const manifestBytes = readFileSync(m.manifest);
  const scheduleId = await createSchedule(client, {
    config: config('quality', storageRoot),
    every: ['24h'],
    scheduleId: `quality-${path.basename(storageRoot)}`,
  });
  await changeSchedule(client, scheduleId, 'trigger');
  const scheduledRun = await firstScheduledRun(scheduleId);
  const rerun = (await client.workflow.getHandle(scheduledRun).result()) as BuildMixtureResult;
  await changeSchedule(client, scheduleId, 'delete');
  const r = rerun.quality!;
  const stages = [
    ...Object.values(r.extract),
    r.classifier,
    r.filter,
    ...Object.values(r.references),
    rerun.dedup,
  ];
  assert.ok(stages.every((s) => s?.skipped));
  assert.deepEqual(sparkStates(await queryProgress(client, scheduledRun)), ['skipped']);
  assert.equal(rerun.download.fetchedBytes, 0);
  assert.equal(rerun.mixture?.data, m.data);
  assert.ok(readFileSync(m.manifest).equals(manifestBytes), 'the same manifest');

  // A changed Pareto α re-runs the filter and what follows it, and nothing before it.
  const changed = await startBuildMixture(client, {
    ...config('quality', storageRoot),
    pareto: { alpha: 3 },
  });
  const after = (await client.workflow.getHandle(changed.workflowId).result()) as BuildMixtureResult;
  const a = after.quality!;
  assert.ok(
    [...Object.values(a.extract), ...Object.values(a.references), a.classifier].every((s) => s.skipped),
  );
  assert.deepEqual(
    [a.filter.skipped, after.dedup?.skipped],
    [false, false],
    'the filter and dedup run again',
  );
  assert.notEqual(after.mixture?.data, m.data, 'a new mixture');
  assert.equal(after.download.fetchedBytes, 0);

  // The first run's report: the manifest's mixture, the classifier against the ground truth, a page with charts.
  const report = JSON.parse(readFileSync(result.report?.json ?? 'no report', 'utf8')) as RunReport;
  assert.deepEqual(report.mixture?.sources, manifest.sources);
  assert.ok(
    (report.quality?.groundTruth.figures?.auc ?? 0) > 0.5,
    JSON.stringify(report.quality?.groundTruth),
  );
  assert.match(
    readFileSync(result.report?.html ?? 'no report', 'utf8'),
    /data-chart="score-histogram"><figcaption>[^<]*<\/figcaption><svg/,
  );
});

/** The distinct states of a run's Spark stages. */
const sparkStates = (p: BuildMixtureProgress): string[] => [
  ...new Set(Object.values(p.spark).map((s) => s.state)),
];

async function firstScheduledRun(scheduleId: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const recent = (await describeSchedule(client, scheduleId)).recentRuns[0];
    if (recent) return recent.workflowId;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`schedule ${scheduleId} started no run in 30 s`);
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
  const failing = await startBuildMixture(client, config('retry-fail', storageRoot));
  await assert.rejects(client.workflow.getHandle(failing.workflowId).result(), WorkflowFailedError);
  const committed = async (stage: string): Promise<boolean> =>
    (await storage.list(`spark/${stage}/`)).some((k) => k.endsWith('/_SUCCESS'));
  assert.equal(await committed(`extract-${healthy}`), true, 'the healthy crawl committed');
  assert.equal(await committed(`extract-${broken}`), false);

  await storage.write(victim, bytes);
  const retry = await startBuildMixture(client, {
    ...config('retry-ok', storageRoot),
    stopAfter: 'classify',
  });
  const result = (await client.workflow.getHandle(retry.workflowId).result()) as BuildMixtureResult;
  assert.equal(result.quality?.extract[healthy]?.skipped, true, 'the committed crawl is not redone');
  assert.equal(result.quality?.extract[broken]?.skipped, false, 'the failed crawl runs again');
});
