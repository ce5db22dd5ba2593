/**
 * The fault-injection suite: buildMixture on the miniature crawl under one disturbance at a time,
 * each run compared with an undisturbed reference run: every downloaded file and every mixture
 * file byte for byte (the manifest included), every committed stage's content digest and counts,
 * and nothing half-written or abandoned left in the storage root. See lab.ts for how a scenario
 * starts from the reference's committed stages and redoes only the ones it disturbs.
 *
 * The reference run is also the end-to-end test of the pipeline and of starting it from the
 * Temporal UI: where Debian's chromium is present, it is started from the UI's Start Workflow
 * form (the config pasted as JSON, the workflow id typed in) and waited for on the run's page
 * until that shows Completed; a test of its own then checks, from the run's history, that it
 * began as the form was filled. Without a browser the reference is started through the client,
 * that test skips saying why, and every other scenario runs as before.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test, type TestContext } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { runStatus, startBuildMixture, type RunStatus } from '../../cli/client';
import { watchRun } from '../../cli/watch';
import type { ScheduleView } from '../../cli/schedule';
import { REFERENCE_CORPORA } from '../../config/schema';
import { downloadWorkflowId, TASK_QUEUE } from '../../config/temporal';
import type { Manifest } from '../../core/mix/manifest';
import type { RunReport } from '../../core/report/report';
import { taggedProcesses } from '../../core/spark/orphans';
import type { BuildMixtureResult } from '../../workflows';
import { browserSkipReason, TemporalUi, WORKFLOW_TYPE } from '../helpers/browser';
import { commandOf } from '../helpers/procs';
import { ccmix } from '../helpers/cli';
import { setMirrorFaults } from '../helpers/services';
import { temporalAddress } from '../../infra/services';
import {
  committedOutputs,
  FaultLab,
  leftovers,
  snapshot,
  waitUntil,
  type RootSnapshot,
  type Worker,
} from './lab';

const lab = new FaultLab();
let reference: RootSnapshot;
/** The reference run's quarantined files by reason (the miniature crawl plants broken files). */
let referenceQuarantine: Record<string, number>;
const SCENARIO_MS = 6 * 60_000;
const REFERENCE_MS = 15 * 60_000;
/** Why the reference run is started through the client instead of the Temporal UI, if it is. */
const noBrowser = browserSkipReason();
let ui: TemporalUi | undefined;
/** How the reference run was started from the UI: what the form got, and what the run's page showed at the end. */
let uiStart:
  { workflowId: string; runId: string; pasted: string; shown: string; pageUrl: string } | undefined;

before(async () => {
  await lab.start();
  if (!noBrowser) ui = await TemporalUi.open(lab.services.settings);
});

after(async () => {
  await ui?.close();
  await lab.stop();
});

/** Keys whose values differ between two snapshots: a readable failure, not a 300-line diff. */
function differences(got: RootSnapshot, want: RootSnapshot): string[] {
  const diffs: string[] = [];
  for (const key of new Set([...Object.keys(want.files), ...Object.keys(got.files)])) {
    if (got.files[key] !== want.files[key])
      diffs.push(`file ${key}: ${got.files[key] ?? 'missing'} vs ${want.files[key] ?? 'absent'}`);
  }
  for (const stage of new Set([...Object.keys(want.stages), ...Object.keys(got.stages)])) {
    const a = JSON.stringify(got.stages[stage]);
    const b = JSON.stringify(want.stages[stage]);
    if (a !== b) diffs.push(`stage ${stage}: ${a} vs ${b}`);
  }
  return diffs;
}

const putFaults = (faults: object): Promise<void> => setMirrorFaults(lab.services.settings, faults);

/** Resolves once the run's Spark job for `stage` is computing (it has tasks). */
function sparkRunning(workflowId: string, stage: string): Promise<true> {
  return waitUntil(
    `the ${stage} Spark job`,
    async () => {
      const live = (await runStatus(lab.client, workflowId).catch(() => null))?.sparkLive;
      return live?.stage === stage && (live.spark?.tasksTotal ?? 0) > 0 ? true : undefined;
    },
    SCENARIO_MS,
  );
}

/**
 * Resolves once `stage` has a Spark job launched that is not in `before`: the job is submitted and
 * running. A short job (a reference corpus, the token count) may end before its tasks ever show
 * in `ccmix status`, so the launch is what marks "during the stage".
 */
function sparkLaunched(stage: string, before: ReadonlySet<string>): Promise<true> {
  return waitUntil(
    `a launch of the ${stage} Spark job`,
    async () =>
      (await lab.sparkLaunches()).some((launch) => stageOf(launch) === stage && !before.has(launch))
        ? true
        : undefined,
    SCENARIO_MS,
  );
}

interface Scenario {
  /** Committed stages (paths under the storage root) the run has to redo. */
  redo: string[];
  sparkServer?: boolean;
  /** Workers on the task queue from the start (default 1). */
  workers?: number;
  /** The disturbance, given the run, its first worker and the Spark launches before it; resolves when it is over. */
  disturb: (workflowId: string, worker: Worker, launchedBefore: ReadonlySet<string>) => Promise<void>;
}

/** Runs the scenario and checks the outcome against the reference; returns the Spark attempts it launched. */
async function survives(s: Scenario): Promise<{ result: BuildMixtureResult; launches: string[] }> {
  lab.resetRoot(s.redo);
  const launchedBefore = new Set(await lab.sparkLaunches());
  const first = lab.startWorker({ sparkServer: s.sparkServer });
  for (let more = 1; more < (s.workers ?? 1); more++) lab.startWorker({ sparkServer: s.sparkServer });
  try {
    const workflowId = await lab.startRun();
    const disturbance = s.disturb(workflowId, first, launchedBefore);
    const result = await lab.result(workflowId, SCENARIO_MS);
    await disturbance;
    assert.deepEqual(
      differences(await snapshot(lab.root), reference),
      [],
      'the same output as the undisturbed run',
    );
    assert.deepEqual(
      leftovers(lab.root),
      { strayAttempts: [], staging: [], uncommitted: [] },
      'nothing half-done left',
    );
    return { result, launches: (await lab.sparkLaunches()).filter((f) => !launchedBefore.has(f)) };
  } finally {
    lab.stopWorkers();
  }
}

/** SIGKILLs `worker` and starts another (which also stops the dead worker's orphaned Spark job). */
function replace(worker: Worker, opts: { sparkServer?: boolean } = {}): Worker {
  lab.kill(worker);
  return lab.startWorker(opts);
}

/** A stream that keeps what is written to it. */
function drawing(into: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      into.push(chunk.toString());
      done();
    },
  });
}

/** The summaries (Temporal's user metadata) in a workflow's history: what the UI's timeline shows. */
async function timelineOf(workflowId: string): Promise<string[]> {
  const { events } = await lab.client.workflow.getHandle(workflowId).fetchHistory();
  const summaries = (events ?? []).flatMap((event) => {
    const payload = event.userMetadata?.summary;
    return payload ? [defaultPayloadConverter.fromPayload<string>(payload)] : [];
  });
  return [...new Set(summaries)].sort();
}

/** Each step of the run is named in the UI: its crawl or Spark stage, not an anonymous activity. */
async function assertTimelineNamesEveryStep(workflowId: string): Promise<void> {
  const wetFiles = /^download (CC-MAIN-\d{4}-\d{2}): \d+ WET files$/;
  const parent = await timelineOf(workflowId);
  assert.deepEqual(
    parent.filter((s) => !wetFiles.test(s)),
    [
      ...lab.crawls.map((c) => `discover ${c}`),
      `spark extract: ${lab.extractStage}`,
      ...REFERENCE_CORPORA.map((name) => `spark ingest_reference: reference-${name}`),
      'spark train_classifier: train-classifier',
      'spark quality_filter: quality-filter',
      'spark dedup: dedup',
      'spark mix: mix-count',
      'spark mix: mix',
      'plan the Table 2.2 mixture',
      'verify the mixture with DuckDB',
      'write manifest.json',
      'write the run report',
    ].sort(),
  );
  assert.deepEqual(
    parent.flatMap((s) => wetFiles.exec(s)?.[1] ?? []),
    [...lab.crawls].sort(),
    'one download child per crawl',
  );
  const crawl = lab.crawls[0] as string;
  const child = await timelineOf(downloadWorkflowId(workflowId, crawl));
  const batches = child.filter((s) => s.startsWith(`download ${crawl} batch `));
  assert.ok(
    batches.length > 0 && batches.includes(`download ${crawl} batch ${batches.length}/${batches.length}`),
    child.join('; '),
  );
  assert.deepEqual(
    child.filter((s) => !batches.includes(s) && !wetFiles.test(s)),
    [`inventory of ${crawl}`],
  );
  // The child's own name, as the parent started it.
  assert.deepEqual(
    child.filter((s) => wetFiles.test(s)),
    parent.filter((s) => s.startsWith(`download ${crawl}: `)),
  );
}

/** A launch id (`<stage>-a<attempt>-<random>`) without its attempt part. */
const stageOf = (launch: string): string => launch.replace(/-a\d+-[0-9a-f]{8}$/, '');
const stagesOf = (launches: string[]): string[] => launches.map(stageOf).sort();

/**
 * The undisturbed run every scenario is compared with, and the end-to-end checks of the pipeline
 * (they were quality.workflow.test's, which ran the same config a second time). Started from the
 * Temporal UI's Start Workflow form and waited for on the run's page where there is a browser.
 */
test(
  'the reference run: the whole pipeline ends in a verified mixture, every count adds up',
  { timeout: REFERENCE_MS },
  async () => {
    lab.ensureRoot();
    lab.startWorker();
    await lab.waitForPoller();
    let result: BuildMixtureResult;
    let status: RunStatus;
    const seen = new Set<string>();
    // The progress query mid-run: a Spark stage running, and the current stage open (no end yet).
    const midRun = { sparkRunning: false, stageOpen: false };
    let workflowId = '';
    const drawn: string[] = [];
    let watched: Promise<RunStatus> | undefined;
    let watchedEnd: RunStatus | undefined;
    try {
      const fromUi = ui ? await lab.startRunFromUi(ui) : undefined;
      workflowId = fromUi?.workflowId ?? (await lab.startRun());
      // `ccmix status --watch` follows the run to its end, drawing into `drawn`.
      watched = watchRun(lab.client, workflowId, { stream: drawing(drawn) });
      watched.catch(() => undefined); // awaited below; a failure before that is the test's own
      let finished = false;
      // Through the UI: its run page, which refreshes itself, until it shows the run closed (a
      // little less than the test's time, so a page that never shows it fails with what it shows).
      const closed = ui
        ? ui.closedStatus(workflowId, REFERENCE_MS - 30_000)
        : lab.result(workflowId, REFERENCE_MS).then(() => 'Completed');
      const pending = closed.finally(() => (finished = true));
      // What `ccmix status` shows while Spark runs: the running job's stage and task counts.
      while (!finished) {
        const now = await runStatus(lab.client, workflowId).catch(() => null);
        const live = now?.sparkLive;
        if (live?.spark && live.spark.tasksTotal > 0) seen.add(live.stage);
        if (now?.status === 'RUNNING') {
          const { spark, stages, stage } = now.progress;
          midRun.sparkRunning ||= Object.values(spark).some((s) => s.state === 'running');
          const current = stages.at(-1);
          midRun.stageOpen ||= current?.stage === stage && current.endedAt === undefined;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const shown = await pending;
      result = await lab.result(workflowId, 60_000);
      if (fromUi && ui) {
        const { runId } = await lab.client.workflow.getHandle(workflowId).describe();
        uiStart = { ...fromUi, runId, shown, pageUrl: ui.page.url() };
      }
      // Queries on a closed run are answered by a worker, so these come before it stops: the
      // watch's last read may still be on its way.
      status = await runStatus(lab.client, workflowId);
      watchedEnd = await watched;
    } finally {
      lab.stopWorkers();
      // The run's page refreshes itself: left open, it would load the CPU for the whole suite.
      await ui?.close();
      ui = undefined;
    }
    assert.ok(seen.size >= 1, 'status showed a running Spark job with its task counts');
    assert.deepEqual(midRun, { sparkRunning: true, stageOpen: true }, 'the progress query during the run');
    assert.equal(watchedEnd.status, 'COMPLETED', 'status --watch returns when the run ends');
    // Its bars, each stage's drawn full (cli-progress's legacy preset fills with "=") by the last frame.
    const lastFrame =
      drawn
        .join('')
        .split(/\n(?=discover )/)
        .at(-1) ?? '';
    for (const stage of [
      'discover',
      'download',
      'extract',
      'train-classifier',
      'quality-filter',
      'dedup',
      'mix',
    ])
      assert.match(lastFrame, new RegExp(`^${stage} +\\[=+\\] `, 'm'), lastFrame);
    // Every stage in the paper's order, each closed with its own duration.
    assert.deepEqual(
      result.stages.map((s) => s.stage),
      ['discover', 'download', 'extract', 'classify', 'dedup', 'mix', 'verify', 'report'],
    );
    for (const s of result.stages) assert.ok(s.endedAt && s.seconds !== undefined && s.seconds >= 0, s.stage);
    await assertTimelineNamesEveryStep(workflowId);
    referenceQuarantine = result.download.quarantinedReasons;
    assert.ok(Object.keys(referenceQuarantine).length > 0, 'the planted broken files are quarantined');
    const q = result.quality;
    assert.ok(q, 'the quality stage ran');
    // The two small crawls make one extraction job, which names both.
    assert.deepEqual(
      Object.keys(q.extract).map((key) => `extract-${key}`),
      [lab.extractStage],
    );
    assert.deepEqual(Object.values(q.extractCrawls ?? {}), [lab.crawls], 'the job extracted both crawls');
    for (const e of Object.values(q.extract))
      assert.ok(!e.skipped && e.rowsKept > 0 && e.rowsKept <= e.rowsIn);
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
    assert.equal(d.rowsKept + Object.values(d.droppedByReason).reduce((a, b) => a + b, 0), d.rowsIn);
    // The generator plants near-duplicates in every dataset: a dedup that finds none is broken.
    assert.ok((d.droppedByReason.near_duplicate ?? 0) > 0, JSON.stringify(d.droppedByReason));

    // The mixture: verified, the planned rows, and a manifest that names the files it describes.
    const m = result.mixture;
    assert.ok(m, 'the mixture was written');
    assert.equal(m.rows, Math.floor(lab.mixTokens / 2048));
    assert.deepEqual(
      m.checks.filter((c) => !c.ok),
      [],
    );
    // The decode check read the document files the mix job's provenance.json named, and no other.
    assert.match(
      m.checks.find((c) => c.check === 'decode')?.detail ?? '',
      /document files: those provenance\.json names\)$/,
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
    assert.deepEqual(
      Object.values(status.progress.spark).map((s) => s.state),
      Array.from({ length: 1 + REFERENCE_CORPORA.length + 2 + 3 }, () => 'done'),
    );
    // The report: the manifest's mixture, the classifier against the ground truth, a page with charts.
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

    reference = await snapshot(lab.root);
    assert.ok(Object.keys(reference.files).some((f) => f.endsWith('.parquet') && f.startsWith('mix/')));
    assert.ok(Object.keys(reference.files).some((f) => f.endsWith('.warc.wet.gz')));
    assert.deepEqual(leftovers(lab.root), { strayAttempts: [], staging: [], uncommitted: [] });
    lab.keepAsReference();
  },
);

test(
  "the reference run was started from the Temporal UI's Start Workflow form, and its page shows it Completed",
  { skip: noBrowser },
  async () => {
    assert.ok(uiStart, 'the reference run was started from the UI and ended');
    assert.equal(uiStart.shown, 'Completed', 'the run page shows Completed');
    assert.ok(
      decodeURIComponent(uiStart.pageUrl).includes(`/workflows/${uiStart.workflowId}/`),
      `the page followed is the run's: ${uiStart.pageUrl}`,
    );
    const { events } = await lab.client.workflow.getHandle(uiStart.workflowId, uiStart.runId).fetchHistory();
    const started = events?.[0]?.workflowExecutionStartedEventAttributes;
    assert.ok(started, 'the history begins with the start');
    assert.equal(started.workflowType?.name, WORKFLOW_TYPE, 'the workflow type typed in the form');
    assert.equal(started.taskQueue?.name, TASK_QUEUE, 'the task queue typed in the form');
    // The input is the JSON pasted in the form, as it was: `ccmix run` would have sent the
    // parsed config, every default filled in.
    const payloads = started.input?.payloads ?? [];
    assert.equal(payloads.length, 1, 'one argument');
    const converter = lab.client.options.loadedDataConverter.payloadConverter;
    assert.deepEqual(converter.fromPayload(payloads[0]!), JSON.parse(uiStart.pasted), 'the pasted config');
    assert.equal(
      events?.at(-1)?.workflowExecutionCompletedEventAttributes != null,
      true,
      'the run completed',
    );
  },
);

// In the order the run reaches them: one of each kind of job the pipeline submits.
const SPARK_STAGES = [
  lab.extractStage,
  'reference-webtext2',
  'train-classifier',
  'quality-filter',
  'dedup',
  'mix-count',
  'mix',
];

test(
  'the worker SIGKILLed during each Spark stage in turn, a new worker started each time: the same output',
  { timeout: 2 * SCENARIO_MS },
  async () => {
    const { launches } = await survives({
      redo: SPARK_STAGES.map((stage) => `spark/${stage}`),
      disturb: async (_workflowId, first, launchedBefore) => {
        let worker = first;
        for (const stage of SPARK_STAGES) {
          await sparkLaunched(stage, launchedBefore);
          worker = replace(worker);
        }
      },
    });
    // No other stage ran (skipped by fingerprint). Each stage ran twice, the killed attempt and
    // its retry, unless the job server finished the killed attempt's job and committed it before
    // the new worker stopped it (a job nearly done when its worker died): then the retry found
    // that commit, and the committed output is the first attempt's.
    assert.deepEqual([...new Set(stagesOf(launches))].sort(), [...SPARK_STAGES].sort());
    for (const stage of SPARK_STAGES) {
      const mine = launches.filter((f) => stageOf(f) === stage);
      if (mine.length === 2) continue;
      assert.equal(mine.length, 1, `${stage} launched ${mine.length} times: ${mine.join(', ')}`);
      assert.ok(/-a1-/.test(mine[0] ?? ''), `${stage}: the one launch is the killed attempt's: ${mine[0]}`);
      // The stage's commit marker names the attempt whose output it committed.
      const committed = committedOutputs(lab.root, stage);
      assert.deepEqual(
        committed.map((output) => output.includes('/attempt-a1-')),
        [true],
        `${stage}: its commit: ${committed.join(', ')}`,
      );
    }
  },
);

test(
  'the worker SIGKILLed while it verifies the mixture: `ccmix status` showed the scan, a new worker verified it again, the same files',
  { timeout: 2 * SCENARIO_MS },
  async () => {
    // One row per data file (about 1,950), so that the scan lasts long enough (~8 s here) to be
    // seen through the worker's heartbeats (sent at most every 2 s) and cut short; more epochs
    // than the default allows of the lab's small sources; and a short heartbeat timeout, so that
    // the dead worker's verification moves on in seconds.
    const mixture = {
      totalTokens: 4_000_000,
      maxEpochs: 1000,
      rowsPerFile: 1,
      verifyHeartbeatTimeoutSeconds: 5,
    };
    lab.resetRoot([]);
    lab.startWorker();
    try {
      await lab.result(await lab.startRun(mixture), SCENARIO_MS); // this config's undisturbed run
    } finally {
      lab.stopWorkers();
    }
    const undisturbed = await snapshot(lab.root);
    // Again: every Spark stage is committed, so the run goes straight on to the verification.
    const worker = lab.startWorker();
    try {
      const workflowId = await lab.startRun(mixture);
      const seen = await waitUntil(
        'the scan in ccmix status',
        async () => {
          const live = (await runStatus(lab.client, workflowId).catch(() => null))?.verifyLive;
          return live && live.scanned > 0 && live.scanned < live.dataFiles ? live : undefined;
        },
        SCENARIO_MS,
      );
      replace(worker);
      await lab.result(workflowId, SCENARIO_MS);
      assert.ok(seen.dataFiles > 1000, `one file a row: ${seen.dataFiles} data files`);
      const { events } = await lab.client.workflow.getHandle(workflowId).fetchHistory();
      const verify = (events ?? []).find(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'verifyMixture',
      );
      const started = (events ?? []).find(
        (e) =>
          e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === verify?.eventId?.toString(),
      )?.activityTaskStartedEventAttributes;
      const timeout = verify?.activityTaskScheduledEventAttributes?.heartbeatTimeout?.seconds;
      assert.equal(Number(timeout), 5, 'the config set its heartbeat timeout');
      assert.equal(started?.attempt, 2, 'the verification ran again, on the new worker');
      assert.match(started?.lastFailure?.message ?? '', /heartbeat/i, 'after its heartbeat timed out');
    } finally {
      lab.stopWorkers();
    }
    assert.deepEqual(differences(await snapshot(lab.root), undisturbed), [], 'the same files and stages');
    assert.deepEqual(leftovers(lab.root), { strayAttempts: [], staging: [], uncommitted: [] });
  },
);

test(
  'two workers on one task queue: no stage runs twice, the same output',
  { timeout: SCENARIO_MS },
  async () => {
    // The extraction, two reference ingestions at once (two Spark jobs in flight), then the filter.
    const stages = [lab.extractStage, 'reference-books1', 'reference-webtext2', 'quality-filter'];
    const { launches } = await survives({
      redo: stages.map((stage) => `spark/${stage}`),
      workers: 2,
      disturb: () => Promise.resolve(),
    });
    assert.deepEqual(stagesOf(launches), [...stages].sort(), 'each stage launched once');
  },
);

/**
 * A scenario that redoes the downloads with the mirror misbehaving: the same files, only the
 * planted broken ones quarantined, and (the downloads matching) no Spark job at all.
 */
async function downloadSurvives(faults: object, disturb: Scenario['disturb']): Promise<BuildMixtureResult> {
  await putFaults(faults);
  try {
    const { result, launches } = await survives({ redo: ['raw'], disturb });
    assert.deepEqual(
      result.download.quarantinedReasons,
      referenceQuarantine,
      'only the planted files quarantined',
    );
    assert.deepEqual(launches, [], 'every Spark stage skipped by its fingerprint');
    return result;
  } finally {
    await putFaults({});
  }
}

test(
  'the worker SIGKILLed during download, a new worker started: the same files',
  { timeout: SCENARIO_MS },
  async () => {
    // Slow bodies, so the kill lands while files are in flight.
    await downloadSurvives(
      { bytesPerSecond: 40_000, keyPattern: '\\.warc\\.wet\\.gz$' },
      async (_id, worker) => {
        await waitUntil(
          'a WET file in flight',
          () => (lab.sizeOf('_staging') > 0 ? true : undefined),
          SCENARIO_MS,
        );
        replace(worker);
        await putFaults({});
      },
    );
  },
);

test(
  'a 503 storm, SlowDown answers and latency spikes from the mirror: the same files',
  { timeout: SCENARIO_MS },
  async () => {
    const result = await downloadSurvives(
      { storm503: 8, slowDown: 0.3, latencyMs: 300, forRequests: 40, seed: 5 },
      () => Promise.resolve(),
    );
    assert.ok(result.download.retries >= 8, `the storm was seen: ${JSON.stringify(result.download)}`);
  },
);

test(
  'the Spark driver killed mid-job: the stage is retried, the same output',
  { timeout: SCENARIO_MS },
  async () => {
    const { launches } = await survives({
      redo: ['spark/quality-filter'],
      // Through spark-submit: the driver is a JVM of its own (on the job server it would be the server).
      sparkServer: false,
      disturb: async (workflowId, worker) => {
        await sparkRunning(workflowId, 'quality-filter');
        const drivers = taggedProcesses().filter(
          (p) =>
            p.owner.pid === worker.process.pid &&
            commandOf(p.pid).includes('org.apache.spark.deploy.SparkSubmit'),
        );
        assert.equal(drivers.length, 1, 'one driver JVM');
        process.kill(drivers[0]!.pid, 'SIGKILL');
      },
    });
    assert.deepEqual(stagesOf(launches), ['quality-filter', 'quality-filter']);
  },
);

test(
  'the Temporal dev server killed and restarted mid-run (SQLite): the run goes on, the same output',
  { timeout: SCENARIO_MS },
  async () => {
    const { launches } = await survives({
      redo: ['spark/dedup'],
      disturb: async (workflowId) => {
        await sparkRunning(workflowId, 'dedup');
        await lab.restartTemporal(3000);
      },
    });
    assert.ok(
      stagesOf(launches).every((s) => s === 'dedup'),
      launches.join(', '),
    );
  },
);

/**
 * The storage root on its own tmpfs, spoiled by `spoil`: the run fails naming `cause`; after
 * `fix` a new run ends like the reference. Skips, saying why, where the test may not mount.
 */
async function storageFaultScenario(
  t: TestContext,
  spoil: () => void,
  cause: RegExp,
  fix: () => void,
): Promise<void> {
  lab.resetRoot(['raw']);
  if (!lab.mountRoot(512 * 1024 * 1024)) {
    t.skip('mounting a tmpfs needs root (CAP_SYS_ADMIN), which this machine does not give the test');
    return;
  }
  try {
    spoil();
    await failsThenRecovers(cause, fix);
  } finally {
    lab.unmountRoot();
  }
}

test(
  'a full storage root fails the run clearly; after the fix a re-run gives the same output',
  { timeout: SCENARIO_MS },
  async (t) => {
    // Fill the disk but for a fifth of what the downloads need; the fix frees the space.
    const filler = path.join(lab.root, 'filler');
    await storageFaultScenario(
      t,
      () => {
        const { bavail, bsize } = statfsSync(lab.root);
        writeFileSync(filler, Buffer.alloc(bavail * bsize - Math.floor(rawBytes() / 5)));
      },
      /StorageUnusable|ENOSPC|no space/i,
      () => rmSync(filler),
    );
  },
);

test(
  'a read-only storage root fails the run clearly; after the fix a re-run gives the same output',
  { timeout: SCENARIO_MS },
  async (t) => {
    await storageFaultScenario(
      t,
      () => lab.remountRoot('ro'),
      /StorageUnusable|EROFS|read-only/i,
      () => lab.remountRoot('rw'),
    );
  },
);

/** The run fails, naming the cause; `fix` repairs the root; a new run ends like the reference. */
async function failsThenRecovers(cause: RegExp, fix: () => void): Promise<void> {
  lab.startWorker();
  try {
    const failed = await lab.result(await lab.startRun(), SCENARIO_MS).then(
      () => null,
      (error: unknown) => error,
    );
    assert.ok(failed instanceof WorkflowFailedError, `the run failed: ${String(failed)}`);
    assert.match(failureChain(failed), cause);
    fix();
    await lab.result(await lab.startRun(), SCENARIO_MS);
  } finally {
    lab.stopWorkers();
  }
  assert.deepEqual(differences(await snapshot(lab.root), reference), []);
  assert.deepEqual(leftovers(lab.root), { strayAttempts: [], staging: [], uncommitted: [] });
}

/** Every message down a failure's cause chain (the child workflow's, then the activity's). */
function failureChain(error: unknown): string {
  const messages: string[] = [];
  for (let e = error as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    messages.push(e.message ?? '');
  }
  return messages.join(' <- ');
}

function rawBytes(): number {
  return Object.keys(reference.files)
    .filter((f) => f.startsWith('raw/'))
    .reduce((n, f) => n + statSync(path.join(lab.reference, f)).size, 0);
}

test(
  'a Schedule re-runs the same config: nothing downloaded, no Spark job, the same manifest',
  { timeout: SCENARIO_MS },
  async () => {
    lab.resetRoot([]);
    lab.startWorker();
    // Through the CLI, as an operator: create (paused), list, unpause, trigger, describe, pause, delete.
    const cli = async (...args: string[]): Promise<unknown> => {
      const { code, stdout, stderr } = await ccmix(
        [...args, '--json'],
        temporalAddress(lab.services.settings),
      );
      assert.equal(code, 0, `ccmix ${args.join(' ')}: ${stderr}`);
      return JSON.parse(stdout);
    };
    const configFile = path.join(mkdtempSync(path.join(tmpdir(), 'ccmix-schedule-')), 'config.json');
    writeFileSync(configFile, JSON.stringify(lab.config()));
    const scheduleId = `faults-${process.pid}`;
    const described = async (): Promise<ScheduleView> =>
      (await cli('schedule', 'describe', scheduleId)) as ScheduleView;
    try {
      const cron = '0 0 1 1 *';
      await cli(
        'schedule',
        'create',
        '--config',
        configFile,
        '--cron',
        cron,
        '--every',
        '24h',
        '--id',
        scheduleId,
        '--paused',
      );
      const listed = ((await cli('schedule', 'list')) as ScheduleView[]).find(
        (v) => v.scheduleId === scheduleId,
      );
      assert.deepEqual(
        listed && { paused: listed.paused, overlap: listed.overlap, spec: listed.spec },
        { paused: true, overlap: 'SKIP', spec: { cron: [cron], every: ['24h'] } },
        'created paused, overlap SKIP by default, the specs as given',
      );
      await cli('schedule', 'unpause', scheduleId);
      assert.equal((await described()).paused, false);
      await cli('schedule', 'trigger', scheduleId);
      const scheduledRun = await waitUntil(
        'the scheduled run',
        async () => (await described()).recentRuns[0]?.workflowId,
        30_000,
      );
      const rerun = await lab.result(scheduledRun, SCENARIO_MS);
      await cli('schedule', 'pause', scheduleId);
      assert.equal((await described()).paused, true);
      const r = rerun.quality!;
      const stages = [
        ...Object.values(r.extract),
        r.classifier,
        r.filter,
        ...Object.values(r.references),
        rerun.dedup,
      ];
      assert.ok(stages.every((st) => st?.skipped));
      // `ccmix status` without a run shows the newest: this one.
      const status = (await cli('status')) as RunStatus;
      assert.deepEqual([status.workflowId, status.status], [scheduledRun, 'COMPLETED']);
      assert.deepEqual([...new Set(Object.values(status.progress.spark).map((st) => st.state))], ['skipped']);
      assert.equal(rerun.download.fetchedBytes, 0);
      const runs = (await cli('runs')) as { workflowId: string }[];
      assert.ok(runs.some((run) => run.workflowId === scheduledRun));
      const report = (await cli('report', scheduledRun)) as { html: string };
      assert.ok(statSync(report.html).size > 0, report.html);
    } finally {
      lab.stopWorkers();
      await ccmix(['schedule', 'delete', scheduleId], temporalAddress(lab.services.settings));
      rmSync(path.dirname(configFile), { recursive: true, force: true });
    }
    assert.deepEqual(differences(await snapshot(lab.root), reference), [], 'the same manifest and files');
  },
);

test(
  'a changed Pareto α re-runs the filter and what follows it, nothing before it',
  { timeout: SCENARIO_MS },
  async () => {
    lab.resetRoot([]);
    lab.startWorker();
    try {
      const { workflowId } = await startBuildMixture(lab.client, { ...lab.config(), pareto: { alpha: 3 } });
      const after = await lab.result(workflowId, SCENARIO_MS);
      const a = after.quality!;
      assert.ok(
        [...Object.values(a.extract), ...Object.values(a.references), a.classifier].every((st) => st.skipped),
      );
      assert.deepEqual(
        [a.filter.skipped, after.dedup?.skipped],
        [false, false],
        'the filter and dedup run again',
      );
      assert.notEqual(after.mixture?.manifest, undefined);
      assert.equal(after.download.fetchedBytes, 0);
      const mixes = (await snapshot(lab.root)).stages.mix ?? [];
      assert.equal(mixes.length, 2, 'a second mixture beside the first');
    } finally {
      lab.stopWorkers();
    }
  },
);
