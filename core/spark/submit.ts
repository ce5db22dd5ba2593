/**
 * Runs one ccmix Spark job through `spark-submit` as a committed stage: skip it when its output
 * is committed, otherwise run it into a staging folder, watch its progress through Spark's own
 * REST API, and commit (rename, then `_SUCCESS`) only after a clean exit.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
} from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config/schema';
import { stageFingerprint } from '../fingerprint';
import { CCMIX_HOME, REPO_ROOT, venvBin } from '../paths';
import { readCommitted, SUCCESS_MARKER } from '../stage';
import { LocalStorage, openStorage } from '../storage';
import { freeLocalPort } from '../net';
import { readSparkProgress, type SparkProgress } from './progress';

export type SparkJobName = 'extract' | 'ingest_reference' | 'train_classifier' | 'quality_filter';

export interface SparkJobInput {
  job: SparkJobName;
  /** Names the stage folder, e.g. `extract` or `reference-webtext2`. */
  stage: string;
  storageRoot: string;
  /**
   * Each entry: a CLI flag and its paths, relative to the storage root (`base: 'storage'`, stage
   * outputs) or to the worker's working directory (`base: 'cwd'`, e.g. reference corpora).
   */
  inputs: { flag: string; paths: string[]; base: 'storage' | 'cwd' }[];
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
  seconds: number;
  [key: string]: unknown;
}

export interface SparkJobResult {
  stageDir: string;
  /** Storage-relative folder of the job's data (Parquet, model…). */
  output: string;
  metrics: JobMetrics;
  skipped: boolean;
}

export interface SparkJobHooks {
  onProgress?: (progress: SparkProgress) => void;
  signal?: AbortSignal;
  /** How often to read Spark's REST API (default 2 s). */
  pollMs?: number;
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

const JOBS_DIR = path.join(REPO_ROOT, 'spark-jobs');

/** The code version of every job: a hash of the spark_jobs package's sources. */
export function sparkJobsCodeVersion(): string {
  const dir = path.join(JOBS_DIR, 'spark_jobs');
  const hash = createHash('sha256');
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith('.py'))
    .sort()) {
    hash.update(name).update(readFileSync(path.join(dir, name)));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * What a stage's inputs are, for its fingerprint: a committed stage by its `_SUCCESS` summary,
 * a downloaded crawl by its inventory, anything else by a listing of names and sizes.
 */
async function inputSignature(
  storage: LocalStorage,
  relPath: string,
  base: 'storage' | 'cwd',
): Promise<string> {
  const hash = createHash('sha256').update(relPath);
  if (base === 'storage') {
    const parent = relPath.replace(/\/[^/]+$/, '');
    for (const marker of [
      `${relPath}/${SUCCESS_MARKER}`,
      `${parent}/${SUCCESS_MARKER}`,
      `${relPath}/inventory.parquet`,
    ]) {
      if (await storage.exists(marker)) return hash.update(await storage.read(marker)).digest('hex');
    }
  }
  const local = resolveInput(storage, relPath, base);
  if (existsSync(local) && statSync(local).isFile()) return hash.update(readFileSync(local)).digest('hex');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else hash.update(`${path.relative(local, full)}\0${statSync(full).size}\n`);
    }
  };
  if (existsSync(local)) walk(local);
  return hash.digest('hex');
}

function resolveInput(storage: LocalStorage, p: string, base: 'storage' | 'cwd'): string {
  return base === 'storage' ? storage.uri(p) : path.resolve(p);
}

export async function sparkStageDir(
  storage: LocalStorage,
  input: SparkJobInput,
  codeVersion = sparkJobsCodeVersion(),
): Promise<string> {
  const signatures: string[] = [];
  for (const group of input.inputs) {
    for (const p of group.paths)
      signatures.push(`${group.flag}=${await inputSignature(storage, p, group.base)}`);
  }
  const fingerprint = stageFingerprint(input.stage, 1, {
    job: input.job,
    code: codeVersion,
    inputs: signatures,
    params: input.params,
  });
  return `spark/${input.stage}/${fingerprint}`;
}

/** spark_jobs as a zip for `--py-files`, built once per code version. */
function jobsArchive(codeVersion: string): string {
  const archive = path.join(CCMIX_HOME, 'spark', `spark_jobs-${codeVersion}.zip`);
  if (!existsSync(archive)) {
    mkdirSync(path.dirname(archive), { recursive: true });
    const temp = `${archive}.${process.pid}.tmp`;
    execFileSync(venvBin('python'), ['-m', 'zipfile', '-c', temp, path.join(JOBS_DIR, 'spark_jobs')]);
    renameSync(temp, archive);
  }
  return archive;
}

function tail(file: string, lines: number): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

function javaHome(): string | undefined {
  const recorded = path.join(REPO_ROOT, '.ccmix', 'java-home');
  return process.env.JAVA_HOME ?? (existsSync(recorded) ? readFileSync(recorded, 'utf8').trim() : undefined);
}

export async function runSparkJob(input: SparkJobInput, hooks: SparkJobHooks = {}): Promise<SparkJobResult> {
  const storage = openStorage(input.storageRoot);
  if (!(storage instanceof LocalStorage)) {
    throw new SparkBadInputError('Spark stages need a local storage root for now (S3A is not wired yet)');
  }
  const codeVersion = sparkJobsCodeVersion();
  const stageDir = await sparkStageDir(storage, input, codeVersion);
  const output = `${stageDir}/data`;
  const committed = await readCommitted<JobMetrics>(storage, stageDir);
  if (committed) return { stageDir, output, metrics: committed, skipped: true };

  const staging = storage.uri(`${stageDir}/_staging`);
  await rm(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const logDir = storage.uri(`logs/${input.runId}`);
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${input.stage}.log`);
  const metricsFile = path.join(staging, 'metrics.json');
  const uiPort = await freeLocalPort();

  const conf: Record<string, string> = {
    'spark.ui.port': String(uiPort),
    'spark.ui.showConsoleProgress': 'false',
    'spark.sql.session.timeZone': 'UTC',
    'spark.driver.host': '127.0.0.1',
    ...input.spark.conf,
  };
  const args = [
    // Executors on a cluster import spark_jobs from this archive; locally PYTHONPATH suffices too.
    '--py-files',
    jobsArchive(codeVersion),
    '--master',
    input.spark.master,
    '--driver-memory',
    input.spark.driverMemory,
    ...Object.entries(conf).flatMap(([k, v]) => ['--conf', `${k}=${v}`]),
    path.join(JOBS_DIR, 'spark_jobs', `${input.job}.py`),
    ...input.inputs.flatMap((group) =>
      group.paths.flatMap((p) => [group.flag, resolveInput(storage, p, group.base)]),
    ),
    '--output',
    path.join(staging, 'data'),
    '--metrics',
    metricsFile,
    '--params-json',
    JSON.stringify(input.params),
    '--run-id',
    input.runId,
  ];
  const java = javaHome();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONPATH: [JOBS_DIR, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    PYSPARK_PYTHON: venvBin('python'),
    PYSPARK_DRIVER_PYTHON: venvBin('python'),
    SPARK_LOCAL_IP: '127.0.0.1',
    ...(java ? { JAVA_HOME: java } : {}),
  };

  const log = openSync(logFile, 'a');
  // Its own process group, so cancelling kills spark-submit, the JVM and every Python worker.
  const child = spawn(venvBin('spark-submit'), args, {
    cwd: REPO_ROOT,
    env,
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const killGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  const onAbort = (): void => {
    killGroup('SIGTERM');
    setTimeout(() => killGroup('SIGKILL'), 5000).unref();
  };
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  const poll = setInterval(() => {
    void readSparkProgress(uiPort).then((p) => p && hooks.onProgress?.(p));
  }, hooks.pollMs ?? 2000);
  let exitCode: number | null;
  try {
    exitCode = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => resolve(code));
    });
  } finally {
    clearInterval(poll);
    hooks.signal?.removeEventListener('abort', onAbort);
    if (hooks.signal?.aborted) killGroup('SIGKILL');
  }
  if (hooks.signal?.aborted) {
    await rm(staging, { recursive: true, force: true });
    throw new SparkJobFailedError(`${input.stage}: cancelled`);
  }
  if (exitCode !== 0) {
    const message = `${input.stage}: spark-submit exited ${exitCode}; last lines of ${logFile}:\n${tail(logFile, 30)}`;
    throw exitCode === 2 ? new SparkBadInputError(message) : new SparkJobFailedError(message);
  }
  if (!existsSync(metricsFile))
    throw new SparkJobFailedError(`${input.stage}: exited 0 without ${metricsFile}`);
  const metrics = JSON.parse(readFileSync(metricsFile, 'utf8')) as JobMetrics;
  // Commit: the data folder moves into place whole, then the marker is written last.
  await rm(storage.uri(output), { recursive: true, force: true });
  await rename(path.join(staging, 'data'), storage.uri(output));
  await storage.write(`${stageDir}/metrics.json`, JSON.stringify(metrics, null, 2));
  await rm(staging, { recursive: true, force: true });
  await storage.write(`${stageDir}/${SUCCESS_MARKER}`, JSON.stringify(metrics, null, 2));
  return { stageDir, output, metrics, skipped: false };
}
