/**
 * runSparkJob against real Spark, no Temporal, through both launchers: `spark-submit` (a JVM per
 * job) and the job server that `ccmix services up` starts (CCMIX_SPARK_SERVER, which the test
 * command sets). Commit and skip, per-attempt folders, failure, cancellation that leaves no
 * process (PySpark's daemon included), orphans of a killed worker, and fingerprints that follow
 * content, not re-runs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { stopOrphanedSparkJobs } from '../cli/worker';
import { parseConfig, type Config } from '../config/schema';
import { generateMiniCrawl } from '../core/minicrawl';
import { jobServerHealth } from '../core/spark/launch';
import { taggedProcesses } from '../core/spark/orphans';
import { sparkStageDir } from '../core/spark/signature';
import { sparkJobsCodeVersion } from '../core/spark/code';
import {
  JOB_SERVER_ENV,
  runSparkJob,
  SparkBadInputError,
  SparkJobFailedError,
  type SparkJobInput,
} from '../core/spark/submit';
import type { SparkProgress } from '../core/spark/progress';
import { LocalStorage } from '../core/storage';
import { mixCountParams } from '../core/mix/plan';
import { commandOf, parentOf } from './helpers/procs';
import { tempDir } from './helpers/services';

const baseSpark: Config['spark'] = { ...parseConfig({}).spark, master: 'local[2]', driverMemory: '1g' };
const jobServer = process.env[JOB_SERVER_ENV];
let storageRoot: string;
const CANCEL_INPUT_COPIES = 50;

function extractInput(spark: Config['spark'], extra: Partial<SparkJobInput> = {}): SparkJobInput {
  return {
    job: 'extract',
    stage: 'extract',
    storageRoot,
    inputs: [{ flag: '--input', paths: ['raw'], base: 'storage' }],
    params: { max_document_chars: 100_000 },
    spark,
    runId: 'spark-test',
    ...extra,
  };
}

/** Processes (any process group) that carry an owner tag of `pid`. */
const ownedBy = (pid: number): number[] =>
  taggedProcesses()
    .filter((p) => p.owner.pid === pid)
    .map((p) => p.pid);

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  return check();
}

before(async () => {
  storageRoot = tempDir('spark-root');
  // The WET files of a small miniature crawl, laid out as the download stage publishes them.
  const crawlDir = tempDir('spark-crawl');
  await generateMiniCrawl({
    outDir: crawlDir,
    size: 1,
    seed: 3,
    crawls: ['CC-MAIN-2017-13', 'CC-MAIN-2019-18'],
  });
  const from = new LocalStorage(crawlDir);
  const to = new LocalStorage(storageRoot);
  for (const key of (await from.list('crawl-data/')).filter((k) => k.endsWith('.warc.wet.gz'))) {
    const wet = await from.read(key);
    await to.write(key.replace(/^crawl-data\//, 'raw/'), wet);
    // The cancellation test's input: enough copies that a warm job server is still running the job
    // when the test aborts it (the four files above take it about a second).
    for (let copy = 0; copy < CANCEL_INPUT_COPIES; copy++) {
      await to.write(
        key.replace(/^crawl-data\//, 'raw-many/').replace(/\.warc\.wet\.gz$/, `-${copy}.warc.wet.gz`),
        wet,
      );
    }
  }
});

const modes: { name: string; spark: Config['spark']; skip: string | false }[] = [
  { name: 'spark-submit', spark: { ...baseSpark, jobServer: 'never' }, skip: false },
  {
    name: 'job server',
    spark: { ...baseSpark, jobServer: 'auto' },
    skip: jobServer ? false : `${JOB_SERVER_ENV} is not set (the test command starts a job server)`,
  },
];

for (const mode of modes) {
  describe(`through ${mode.name}`, { skip: mode.skip }, () => {
    const stage = `extract-${mode.name.replace(/\W/g, '')}`;

    test('a job runs in its attempt folder, commits with its metrics, and is skipped next time', async () => {
      const progress: SparkProgress[] = [];
      const input = extractInput(mode.spark, { stage });
      const first = await runSparkJob(input, { onProgress: (p) => progress.push(p), pollMs: 300 });
      assert.equal(first.skipped, false);
      assert.equal(first.ranOn?.startsWith(mode.name), true, `ran on ${first.ranOn}`);
      assert.ok(first.metrics.rows_in > 0);
      assert.equal(first.metrics.rows_in, first.metrics.rows_kept + first.metrics.rows_dropped);
      assert.match(first.output, new RegExp(`^${first.stageDir}/attempt-a1-[0-9a-f]{8}/data$`));
      const storage = new LocalStorage(storageRoot);
      assert.ok(await storage.exists(`${first.stageDir}/_SUCCESS`));
      assert.ok((await storage.list(`${first.output}/kind=doc/`)).some((f) => f.endsWith('.parquet')));
      assert.ok(
        progress.some((p) => p.tasksTotal > 0),
        'progress came from Spark',
      );

      const second = await runSparkJob(input);
      assert.equal(second.skipped, true);
      assert.deepEqual(second.metrics, first.metrics);
      assert.equal(second.output, first.output);
    });

    // Regression: through spark-submit the job's modules load from the --py-files zip, and the
    // tokenizer looked for the rank file beside the zip, so no mix job could start there.
    test('the mix job finds the GPT-2 rank file and counts tokens', async () => {
      const extracted = await runSparkJob(extractInput(mode.spark, { stage }));
      const counted = await runSparkJob({
        job: 'mix',
        stage: `mix-count-${mode.name.replace(/\W/g, '')}`,
        storageRoot,
        inputs: [
          { flag: '--input-dataset', dataset: 'commonCrawl', paths: [extracted.output], base: 'storage' },
        ],
        params: mixCountParams(2048),
        spark: mode.spark,
        runId: 'spark-test',
      });
      assert.equal(counted.ranOn?.startsWith(mode.name), true, `ran on ${counted.ranOn}`);
      const sources = counted.metrics.extra.sources as Record<string, { documents: number; tokens: number }>;
      assert.ok((sources.commonCrawl?.documents ?? 0) > 0, JSON.stringify(sources));
      assert.ok((sources.commonCrawl?.tokens ?? 0) > (sources.commonCrawl?.documents ?? 0));
    });

    test('an unusable input fails non-retryably with the job’s own reason', async () => {
      const input = extractInput(mode.spark, {
        stage: `${stage}-empty`,
        inputs: [{ flag: '--input', paths: ['logs-none'], base: 'cwd' }],
      });
      await assert.rejects(runSparkJob(input), (error: unknown) => {
        assert.ok(error instanceof SparkBadInputError, String(error));
        // The reason is the job's one line, not a log tail that Spark's shutdown may fill.
        assert.match(
          error.message,
          /exited 2 on (spark-submit|job server \S+): extract: input not found: \S*logs-none$/,
        );
        return true;
      });
    });

    // Only the job server could take a job that should not be its own.
    if (mode.name === 'job server')
      test('a run with its own spark.conf gets a JVM of its own', async () => {
        // Regression: the job server took the job and silently ignored the run's settings.
        const conf = { 'spark.sql.shuffle.partitions': '3' };
        const input = extractInput(
          { ...mode.spark, conf },
          { stage: `${stage}-own-conf`, inputs: [{ flag: '--input', paths: ['logs-none'], base: 'cwd' }] },
        );
        await assert.rejects(runSparkJob(input), /exited 2 on spark-submit:/);
      });

    test('cancelling stops the job, leaves no process behind and commits nothing', async () => {
      const controller = new AbortController();
      const input = extractInput(mode.spark, {
        stage: `${stage}-cancelled`,
        inputs: [{ flag: '--input', paths: ['raw-many'], base: 'storage' }],
        params: { max_document_chars: 77_777 },
      });
      const progress: SparkProgress[] = [];
      const running = runSparkJob(input, { signal: controller.signal, onProgress: (p) => progress.push(p) });
      if (mode.name === 'spark-submit') {
        assert.ok(await waitFor(() => ownedBy(process.pid).length === 0, 30_000), 'earlier jobs are gone');
        assert.ok(await waitFor(() => ownedBy(process.pid).length > 0, 60_000), 'spark-submit started');
      } else {
        assert.ok(await waitFor(() => progress.length > 0, 60_000), 'the server runs the job');
      }
      controller.abort();
      await assert.rejects(running, SparkJobFailedError);
      // Every tagged process of this owner, PySpark's daemon (its own process group) included.
      assert.ok(
        await waitFor(() => ownedBy(process.pid).length === 0, 10_000),
        `left: ${ownedBy(process.pid).join(', ')}`,
      );
      const stageFiles = await new LocalStorage(storageRoot).list(`spark/${stage}-cancelled/`);
      assert.deepEqual(stageFiles, [], `nothing committed or left: ${stageFiles.join(', ')}`);
    });
  });
}

test(
  'a run that asks for more cores than the job server has runs in a JVM of its own, saying why',
  { skip: jobServer ? false : `${JOB_SERVER_ENV} is not set (the test command starts a job server)` },
  async () => {
    // Regression: every local run went to the server, whose cores and memory were fixed when it
    // started: a run's own `local[N]` and driverMemory were silently ignored.
    const health = await jobServerHealth(jobServer ?? '');
    assert.ok(health, 'the job server answers');
    const master = `local[${health.cores + 1}]`;
    const input = extractInput({ ...baseSpark, master }, { stage: 'extract-more-cores' });
    const result = await runSparkJob(input, { pollMs: 300 });
    assert.match(
      result.ranOn ?? '',
      new RegExp(`^spark-submit.*the job server has ${health.cores} cores .* asks for ${health.cores + 1} `),
    );
    assert.ok(result.metrics.rows_in > 0);
  },
);

test('a cancel that comes before the job is launched launches nothing', async () => {
  // Regression: the abort listener was added after the launch, so an earlier cancel (while the
  // inputs were hashed) was never heard and the job ran to its end.
  const controller = new AbortController();
  controller.abort();
  const input = extractInput(
    { ...baseSpark, jobServer: 'never' },
    { stage: 'extract-cancelled-early', params: { max_document_chars: 55_555 } },
  );
  const progress: SparkProgress[] = [];
  const started = Date.now();
  await assert.rejects(
    runSparkJob(input, { signal: controller.signal, onProgress: (p) => progress.push(p) }),
    /extract-cancelled-early: cancelled/,
  );
  // Launched and run to its end, the job would take a JVM's start-up at least (over 10 s here).
  assert.ok(Date.now() - started < 3_000, `rejected after ${Date.now() - started} ms`);
  assert.deepEqual(ownedBy(process.pid), [], 'no spark-submit was started');
  assert.deepEqual(await new LocalStorage(storageRoot).list('spark/extract-cancelled-early/'), []);
  assert.deepEqual(progress, []);
});

test('two attempts at once: each writes its own folder, the first to finish commits, the other yields', async () => {
  const input = extractInput(
    { ...baseSpark, jobServer: jobServer ? 'auto' : 'never' },
    { stage: 'extract-twice', params: { max_document_chars: 66_666 } },
  );
  const storage = new LocalStorage(storageRoot);
  const attemptFolders = async (): Promise<string[]> =>
    [...new Set((await storage.list('spark/extract-twice/')).map((k) => k.split('/')[3] ?? ''))].filter((n) =>
      n.startsWith('attempt-'),
    );
  let bothSeen = false;
  let done = false;
  const watching = (async () => {
    while (!done) {
      if ((await attemptFolders()).length === 2) bothSeen = true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const [a, b] = await Promise.all([runSparkJob(input, { attempt: 1 }), runSparkJob(input, { attempt: 2 })]);
  done = true;
  await watching;
  assert.ok(bothSeen, 'the two attempts had their own folders at the same time');
  assert.equal(a.output, b.output, 'both report the committed output');
  assert.equal([a.skipped, b.skipped].filter(Boolean).length, 1, 'one committed, the other found it');
  assert.deepEqual(await attemptFolders(), [a.output.split('/')[3]], 'the loser removed its own folder');
  assert.ok((await storage.list(`${a.output}/kind=doc/`)).length > 0, 'the committed output is whole');
});

test('re-running an upstream stage with the same output leaves downstream fingerprints unchanged', async () => {
  const spark = { ...baseSpark, jobServer: jobServer ? ('auto' as const) : ('never' as const) };
  const storage = new LocalStorage(storageRoot);
  const downstream = async (upstreamOutput: string): Promise<string> =>
    sparkStageDir(
      storage,
      'quality-filter',
      'quality_filter',
      sparkJobsCodeVersion(),
      [{ flag: '--input', paths: [upstreamOutput], base: 'storage' }],
      { alpha: 9, seed: 1 },
    );
  const input = extractInput(spark, { stage: 'extract-upstream' });
  const first = await runSparkJob(input);
  const before = await downstream(first.output);
  await storage.removeTree(first.stageDir);
  const rerun = await runSparkJob({ ...input, runId: 'another-run' });
  assert.notEqual(rerun.output, first.output, 'a new attempt folder');
  assert.equal(await downstream(rerun.output), before);
  // Another file layout (1 MiB tasks: one small WET file per task) is a new stage, same rows.
  const relaid = await runSparkJob({
    ...input,
    params: { ...input.params, target_partition_bytes: 2 ** 20 },
  });
  assert.notEqual(relaid.stageDir, first.stageDir);
  assert.equal(relaid.metrics.output_digest, first.metrics.output_digest);
  assert.equal(await downstream(relaid.output), before);
  // Different content is a different downstream stage.
  const cut = await runSparkJob({ ...input, params: { max_document_chars: 500 } });
  assert.notEqual(await downstream(cut.output), before);
});

test('a worker that starts kills the Spark jobs of a worker that was SIGKILLed', async () => {
  const input = extractInput({ ...baseSpark, jobServer: 'never' }, { stage: 'extract-orphan' });
  const worker = spawn(
    process.execPath,
    [path.join(__dirname, 'helpers', 'run-spark-job.js'), JSON.stringify(input)],
    {
      stdio: 'ignore',
    },
  );
  const pid = worker.pid ?? 0;
  // Wait for PySpark's daemon, the last layer to start, so every layer is there to orphan (not
  // merely spark-class's launcher, which is short-lived).
  const daemonUp = (): boolean => ownedBy(pid).some((p) => commandOf(p).includes('-m pyspark.daemon'));
  assert.ok(await waitFor(daemonUp, 90_000), 'the job started under the stand-in worker');
  worker.kill('SIGKILL');
  await new Promise((resolve) => worker.once('exit', resolve));
  const orphans = ownedBy(pid);
  assert.ok(orphans.length >= 2, `orphans outlive their worker: ${orphans.join(', ')}`);
  // PySpark's daemon forks a worker per task, and such a worker may end on its own before the
  // stop reaches it; every other layer (the JVM, the driver, the daemon) lives until killed.
  const forkedTaskWorker = (p: number): boolean => {
    const parent = parentOf(p);
    return orphans.includes(parent) && commandOf(parent) === commandOf(p);
  };
  const longLived = orphans.filter((p) => commandOf(p) !== '' && !forkedTaskWorker(p));
  for (const layer of ['bin/java ', 'spark_jobs/extract.py', '-m pyspark.daemon']) {
    assert.ok(
      longLived.some((p) => commandOf(p).includes(layer)),
      `${layer} is among the orphans: ${longLived.map(commandOf).join(' | ')}`,
    );
  }
  const stopped = await stopOrphanedSparkJobs();
  for (const orphan of longLived) assert.ok(stopped.processes.includes(orphan), `killed ${orphan}`);
  assert.ok(await waitFor(() => ownedBy(pid).length === 0, 10_000), `left: ${ownedBy(pid).join(', ')}`);
});
