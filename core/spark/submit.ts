/**
 * Runs one ccmix Spark job as a committed stage:
 *
 *   fingerprint -> committed? skip : run into this attempt's own folder -> commit (`_SUCCESS`)
 *
 * The stage folder is `spark/<stage>/<fingerprint>`; each attempt writes under
 * `attempt-<id>/`, so a retry never touches the folder of an attempt that may still be running.
 * The commit is one small write, the same on a local disk and on S3: `_SUCCESS` names the
 * attempt whose output is the stage's. An attempt that finds another's commit removes its own
 * folder and reports the commit; folders of attempts whose worker died go at the next commit.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Config } from '../../config/schema';
import { CCMIX_HOME } from '../paths';
import { readCommitted, SUCCESS_MARKER } from '../stage';
import { openStorage, sparkUri, type Storage } from '../storage';
import { sparkJobsCodeVersion } from './code';
import { bucketsOf, isLocalMaster, jobServerShortfall, launchSettings } from './conf';
import {
  jobServerState,
  launchOnJobServer,
  launchWithSparkSubmit,
  type LaunchRequest,
  type RunningJob,
} from './launch';
import { ownerAlive, thisOwner, type Owner } from './orphans';
import type { SparkProgress } from './progress';
import { sparkStageDir, type InputGroup, type SparkCommit } from './signature';

export type SparkJobName =
  'extract' | 'ingest_reference' | 'train_classifier' | 'quality_filter' | 'dedup' | 'mix';

/** Where a worker finds the local job server (`ccmix services up` sets it for the worker). */
export const JOB_SERVER_ENV = 'CCMIX_SPARK_SERVER';

export interface SparkJobInput {
  job: SparkJobName;
  /** Names the stage folder, e.g. `extract-CC-MAIN-2019-04` or `reference-webtext2`. */
  stage: string;
  storageRoot: string;
  inputs: InputGroup[];
  params: Record<string, unknown>;
  spark: Config['spark'];
  runId: string;
}

export interface JobMetrics {
  job: string;
  rows_in: number;
  rows_kept: number;
  rows_dropped: number;
  dropped_by_reason: Record<string, number>;
  extra: Record<string, unknown>;
  output_digest?: string | null;
  seconds: number;
  [key: string]: unknown;
}

export interface SparkJobResult {
  stageDir: string;
  /** Storage-relative folder of the job's data (Parquet, model…). */
  output: string;
  metrics: JobMetrics;
  skipped: boolean;
  /** `spark-submit` or `job server <url>`; absent when skipped. */
  ranOn?: string;
}

export interface SparkJobHooks {
  onProgress?: (progress: SparkProgress) => void;
  signal?: AbortSignal;
  /** How often to read the job's progress (default 1 s). */
  pollMs?: number;
  /** Names this attempt (the activity's attempt number); a random suffix keeps it unique. */
  attempt?: number;
}

/** A job that exited 2: its input is unusable, and retrying will not change that. */
export class SparkBadInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SparkBadInputError';
  }
}

export class SparkJobFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SparkJobFailedError';
  }
}

const ATTEMPT_RECORD = '_attempt.json';

async function commitAttempt(
  storage: Storage,
  stageDir: string,
  attemptDir: string,
  metrics: JobMetrics,
): Promise<SparkCommit<JobMetrics> | null> {
  const commit: SparkCommit<JobMetrics> = {
    output: `${attemptDir}/data`,
    outputDigest: metrics.output_digest ?? null,
    metrics,
  };
  // Of two attempts that finish at once, exactly one writes the marker; null for the other.
  const written = await storage.writeIfAbsent(
    `${stageDir}/${SUCCESS_MARKER}`,
    JSON.stringify(commit, null, 2),
  );
  return written ? commit : null;
}

interface AttemptRecord {
  host: string;
  owner: Owner;
}

/**
 * Removes the folders of attempts whose worker is gone (a crash left them). An attempt that may
 * still be running is never touched: it removes its own folder when it finds the commit.
 */
async function removeAbandonedAttempts(storage: Storage, stageDir: string, winner: string): Promise<void> {
  const attempts = new Set(
    (await storage.list(`${stageDir}/`))
      .map((key) => key.slice(stageDir.length + 1).split('/')[0] ?? '')
      .filter((name) => name.startsWith('attempt-') && !winner.startsWith(`${stageDir}/${name}/`)),
  );
  for (const attempt of attempts) {
    const recordPath = `${stageDir}/${attempt}/${ATTEMPT_RECORD}`;
    const data = await storage.readIfPresent(recordPath);
    if (!data) continue;
    const record = JSON.parse(data.toString('utf8')) as AttemptRecord;
    if (record.host === hostname() && !ownerAlive(record.owner))
      await storage.removeTree(`${stageDir}/${attempt}`);
  }
}

type Launcher = (request: LaunchRequest) => Promise<RunningJob>;

/** A job's checkpoints on a cluster, in its attempt's folder (see launchSettings). */
const CHECKPOINTS = '_checkpoints';

/** The job server for a local master when it runs this code; otherwise spark-submit, and why. */
async function chooseLauncher(
  input: SparkJobInput,
  codeVersion: string,
): Promise<{ launch: Launcher; note: string }> {
  const url = process.env[JOB_SERVER_ENV];
  if (input.spark.jobServer === 'never' || !url || !isLocalMaster(input.spark.master)) {
    return { launch: launchWithSparkSubmit, note: '' };
  }
  const state = await jobServerState(url);
  const health = state === 'starting' ? null : state;
  if (health?.code_version !== codeVersion) {
    // A server started before spark_jobs changed must not run this job (`services up` restarts it).
    const why = health
      ? 'the job server runs other code'
      : state === 'starting'
        ? 'the job server is still starting'
        : 'the job server does not answer';
    return { launch: launchWithSparkSubmit, note: ` (${why})` };
  }
  const shortfall = jobServerShortfall(input.spark, health);
  if (shortfall) return { launch: launchWithSparkSubmit, note: ` (${shortfall}: a JVM of its own)` };
  return { launch: (request) => launchOnJobServer(url, request), note: '' };
}

export async function runSparkJob(input: SparkJobInput, hooks: SparkJobHooks = {}): Promise<SparkJobResult> {
  const storage = openStorage(input.storageRoot);
  const codeVersion = sparkJobsCodeVersion();
  const stageDir = await sparkStageDir(
    storage,
    input.stage,
    input.job,
    codeVersion,
    input.inputs,
    input.params,
  );
  const committed = await readCommitted<SparkCommit<JobMetrics>>(storage, stageDir);
  if (committed) return { stageDir, output: committed.output, metrics: committed.metrics, skipped: true };
  // Hashing the inputs can take minutes at paper scale: a cancel meanwhile launches nothing.
  const cancelled = (): SparkJobFailedError => new SparkJobFailedError(`${input.stage}: cancelled`);
  if (hooks.signal?.aborted) throw cancelled();

  const attemptId = `a${hooks.attempt ?? 1}-${randomBytes(4).toString('hex')}`;
  const attemptDir = `${stageDir}/attempt-${attemptId}`;
  const logFile = path.join(CCMIX_HOME, 'logs', input.runId, `${input.stage}-${attemptId}.log`);
  const record: AttemptRecord = { host: hostname(), owner: thisOwner() };
  await storage.write(`${attemptDir}/${ATTEMPT_RECORD}`, JSON.stringify(record));
  const resolve = (group: InputGroup, p: string): string =>
    group.base === 'storage' ? sparkUri(storage, p) : /^s3a?:\/\//.test(p) ? p : path.resolve(p);
  const argv = [
    ...input.inputs.flatMap((group) =>
      group.paths.flatMap((p) => [
        group.flag,
        `${group.dataset ? `${group.dataset}=` : ''}${resolve(group, p)}`,
      ]),
    ),
    ...['--output', sparkUri(storage, `${attemptDir}/data`)],
    ...['--metrics', sparkUri(storage, `${attemptDir}/metrics.json`)],
    ...['--params-json', JSON.stringify(input.params)],
    ...['--run-id', input.runId],
  ];
  const buckets = bucketsOf([storage.root, ...input.inputs.flatMap((g) => g.paths)]);
  const { launch, note } = await chooseLauncher(input, codeVersion);
  const running = await launch({
    job: input.job,
    argv,
    attemptId: `${input.stage}-${attemptId}`,
    spark: input.spark,
    settings: launchSettings(input.spark, buckets, sparkUri(storage, `${attemptDir}/${CHECKPOINTS}`)),
    codeVersion,
    logFile,
  });

  const onAbort = (): void => running.cancel();
  const lost = async (): Promise<SparkJobResult | null> => {
    // Another attempt committed while this one ran: its output is the stage's.
    const winner = await readCommitted<SparkCommit<JobMetrics>>(storage, stageDir);
    if (!winner || winner.output.startsWith(`${attemptDir}/`)) return null;
    await storage.removeTree(attemptDir);
    return { stageDir, output: winner.output, metrics: winner.metrics, skipped: true };
  };
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  if (hooks.signal?.aborted) running.cancel(); // it came while the job was being launched
  const poll = setInterval(() => {
    void running.progress().then((p) => p && hooks.onProgress?.(p));
  }, hooks.pollMs ?? 1000);
  let exit;
  try {
    exit = await running.finished;
  } finally {
    clearInterval(poll);
    hooks.signal?.removeEventListener('abort', onAbort);
  }
  if (hooks.signal?.aborted) {
    await storage.removeTree(attemptDir);
    throw cancelled();
  }
  if (exit.exitCode !== 0) {
    const other = await lost();
    if (other) return other;
    // The attempt is over and its partial output is of no use; the retry writes its own folder.
    await storage.removeTree(attemptDir);
    // The job server reports the job's own one-line reason; spark-submit leaves it in the log.
    const detail = exit.error ?? reasonInLog(logFile, input.job, exit.exitCode);
    const message = `${input.stage}: job exited ${exit.exitCode} on ${running.where}: ${detail}`;
    throw exit.exitCode === 2 ? new SparkBadInputError(message) : new SparkJobFailedError(message);
  }
  const written = await storage.readIfPresent(`${attemptDir}/metrics.json`);
  if (!written) throw new SparkJobFailedError(`${input.stage}: exited 0 without ${attemptDir}/metrics.json`);
  const metrics = JSON.parse(written.toString('utf8')) as JobMetrics;
  const commit = await commitAttempt(storage, stageDir, attemptDir, metrics);
  if (!commit) {
    // Another attempt committed first: its output is the stage's.
    const winner = await lost();
    if (winner) return winner;
    throw new SparkJobFailedError(`${input.stage}: another attempt holds ${stageDir}/${SUCCESS_MARKER}`);
  }
  await removeAbandonedAttempts(storage, stageDir, commit.output);
  // Only a cluster job checkpoints there (launchSettings); a local one pays no listing for it.
  if (!isLocalMaster(input.spark.master)) await storage.removeTree(`${attemptDir}/${CHECKPOINTS}`);
  return {
    stageDir,
    output: commit.output,
    metrics: commit.metrics,
    skipped: false,
    ranOn: running.where + note,
  };
}

/**
 * A bad input's one line (`run_job` prints `<job>: …` and exits 2), found anywhere in the log:
 * Spark's shutdown can log pages after it. Otherwise the log's last lines.
 */
function reasonInLog(file: string, job: string, exitCode: number | null, tail = 30): string {
  if (!existsSync(file)) return '(no log)';
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const own = exitCode === 2 ? lines.filter((line) => line.startsWith(`${job}: `)).at(-1) : undefined;
  return own ?? `last lines of ${file}:\n${lines.slice(-tail).join('\n')}`;
}
