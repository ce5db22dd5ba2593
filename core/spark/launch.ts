/**
 * Two ways to run one job, behind one interface: `spark-submit` (a JVM per job: any master, any
 * cluster) and the local job server (`spark_jobs/server.py`: one JVM for every local stage).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/schema';
import { freeLocalPort } from '../net';
import { GPT2_RANKS_ENV, GPT2_RANKS_FILE, REPO_ROOT, venvBin } from '../paths';
import { jobsArchive, JOBS_DIR } from './code';
import type { SparkLaunchSettings } from './conf';
import { ATTEMPT_ENV, killAttempt, OWNER_ENV, ownerTag, thisOwner } from './orphans';
import { readSparkProgress, type SparkProgress } from './progress';

export interface LaunchRequest {
  job: string;
  /** The job's own arguments (`--input … --output … --metrics …`). */
  argv: string[];
  /** Unique per attempt: names the job on the server and in logs. */
  attemptId: string;
  spark: Config['spark'];
  settings: SparkLaunchSettings;
  codeVersion: string;
  logFile: string;
}

export interface JobExit {
  exitCode: number | null;
  /** The job's own one-line reason, when it gave one (the job server reports it). */
  error?: string;
}

export interface RunningJob {
  readonly where: string;
  readonly finished: Promise<JobExit>;
  progress(): Promise<SparkProgress | null>;
  cancel(): void;
}

/** `spark-submit` in its own process group, tagged with this worker as its owner. */
export async function launchWithSparkSubmit(request: LaunchRequest): Promise<RunningJob> {
  const uiPort = await freeLocalPort();
  const conf = { 'spark.ui.port': String(uiPort), ...request.settings.conf };
  const args = [
    '--py-files',
    jobsArchive(request.codeVersion),
    '--master',
    request.spark.master,
    '--driver-memory',
    request.spark.driverMemory,
    ...(request.settings.jars.length > 0 ? ['--jars', request.settings.jars.join(',')] : []),
    ...Object.entries(conf).flatMap(([k, v]) => ['--conf', `${k}=${v}`]),
    path.join(JOBS_DIR, 'spark_jobs', `${request.job}.py`),
    ...request.argv,
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...request.settings.env,
    PYTHONPATH: [JOBS_DIR, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    PYSPARK_PYTHON: venvBin('python'),
    PYSPARK_DRIVER_PYTHON: venvBin('python'),
    // The jobs' modules load from the --py-files zip, which has no repo around it to find this in.
    [GPT2_RANKS_ENV]: process.env[GPT2_RANKS_ENV] || GPT2_RANKS_FILE,
    [OWNER_ENV]: ownerTag(thisOwner()),
    [ATTEMPT_ENV]: request.attemptId,
  };
  mkdirSync(path.dirname(request.logFile), { recursive: true });
  const log = openSync(request.logFile, 'a');
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
  let cancelled = false;
  const finished = new Promise<JobExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => {
      // PySpark's daemon runs in a process group of its own: end it with the job.
      if (cancelled) killAttempt(request.attemptId);
      resolve({ exitCode });
    });
  });
  return {
    where: 'spark-submit',
    finished,
    progress: () => readSparkProgress(uiPort),
    cancel() {
      cancelled = true;
      killGroup('SIGTERM');
      setTimeout(() => {
        killGroup('SIGKILL');
        killAttempt(request.attemptId);
      }, 5000).unref();
    },
  };
}

interface ServerJob {
  state: 'running' | 'succeeded' | 'failed' | 'cancelled';
  exit_code: number | null;
  error: string | null;
  progress?: SparkProgress;
}

export interface JobServerHealth {
  code_version: string;
  pid: number;
  master: string;
  cores: number;
  driver_memory: string;
  jobs_running: number;
}

async function call<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  const body = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(`${url}: ${response.status} ${body.error ?? ''}`);
  return body;
}

export async function jobServerHealth(url: string): Promise<JobServerHealth | null> {
  const state = await jobServerState(url);
  return state === 'starting' ? null : state;
}

/**
 * One look at the job server: its health, `starting` while its SparkContext starts (it answers
 * 503 until then), or null when nothing answers as the server does.
 */
export async function jobServerState(url: string): Promise<JobServerHealth | 'starting' | null> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
    if (response.ok) return (await response.json()) as JobServerHealth;
    await response.arrayBuffer();
    return response.status === 503 ? 'starting' : null;
  } catch {
    return null;
  }
}

/** Sends the job to the job server and polls it until it ends. */
export async function launchOnJobServer(url: string, request: LaunchRequest): Promise<RunningJob> {
  await call(`${url}/jobs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      id: request.attemptId,
      job: request.job,
      argv: request.argv,
      owner: thisOwner(),
      // Per-bucket S3A settings (endpoint, region): the server's JVM is already running.
      hadoop_conf: Object.fromEntries(
        Object.entries(request.settings.conf)
          .filter(([k]) => k.startsWith('spark.hadoop.fs.s3a.bucket.'))
          .map(([k, v]) => [k.slice('spark.hadoop.'.length), v]),
      ),
    }),
  });
  const status = (): Promise<ServerJob> => call<ServerJob>(`${url}/jobs/${request.attemptId}`);
  const finished = (async (): Promise<JobExit> => {
    let failures = 0;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const job = await status().catch((error: unknown) => {
        // A server that stopped answering took the job with it.
        if (++failures >= 20) throw new Error(`job server ${url} stopped answering: ${String(error)}`);
        return null;
      });
      if (job === null) continue;
      failures = 0;
      if (job.state !== 'running')
        return { exitCode: job.exit_code, ...(job.error ? { error: job.error } : {}) };
    }
  })();
  return {
    where: `job server ${url}`,
    finished,
    progress: () =>
      status().then(
        (job) => job.progress ?? null,
        () => null,
      ),
    cancel() {
      void call(`${url}/jobs/${request.attemptId}/cancel`, { method: 'POST' }).catch(() => undefined);
    },
  };
}

/** Cancels the server's running jobs whose owner is gone (a worker killed mid-job). */
export async function cancelOrphanedServerJobs(
  url: string,
  ownerAlive: (owner: { pid: number; start: string }) => boolean,
): Promise<string[]> {
  const jobs = await call<{ id: string; state: string; owner: { pid?: number; start?: string } }[]>(
    `${url}/jobs`,
  ).catch(() => []);
  const orphans = jobs.filter(
    (job) =>
      job.state === 'running' &&
      typeof job.owner.pid === 'number' &&
      !ownerAlive({ pid: job.owner.pid, start: job.owner.start ?? '' }),
  );
  for (const job of orphans)
    await call(`${url}/jobs/${job.id}/cancel`, { method: 'POST' }).catch(() => undefined);
  return orphans.map((job) => job.id);
}
