/**
 * Local services: the Temporal dev server, the Common Crawl mirror, the S3 emulator, the Spark job
 * server (one local JVM for every Spark stage) and a ccmix worker. Each runs detached with a PID file, a log file and a health check, under
 * <CCMIX_HOME>/services. Ports are configurable and remembered in state.json, so `status` and
 * `down` find what `up` started.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  statSync,
  writeFileSync,
  rmSync,
} from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { parseConfig } from '../config/schema';
import { SEARCH_ATTRIBUTE_KEYS, TASK_QUEUE, NAMESPACE } from '../config/temporal';
import { CCMIX_HOME, REPO_ROOT, venvBin } from '../core/paths';
import { JOBS_DIR, sparkJobsCodeVersion } from '../core/spark/code';
import { launchSettings, s3aJars, s3CommitConf, sparkClassPath } from '../core/spark/conf';
import { jobServerHealth, jobServerState } from '../core/spark/launch';
import { JOB_SERVER_ENV } from '../core/spark/submit';

// Start order: the mirror and S3 bind their ports before the dev server binds its many internal ones.
export const SERVICE_NAMES = ['mirror', 's3', 'spark', 'temporal', 'worker'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface ServicesSettings {
  host: string;
  temporalPort: number;
  temporalUiPort: number;
  mirrorPort: number;
  s3Port: number;
  sparkServerPort: number;
  /** The folder the mirror serves (a Common Crawl layout). */
  mirrorRoot: string;
  stateDir: string;
}

/**
 * The job server's one JVM: the config's own defaults for `spark.master` and `spark.driverMemory`,
 * so a run that keeps them fits it (see jobServerShortfall).
 */
const JOB_SERVER_SPARK = parseConfig({}).spark;

export const DEFAULT_SETTINGS: ServicesSettings = {
  host: '127.0.0.1',
  temporalPort: 7233,
  temporalUiPort: 8233,
  mirrorPort: 8780,
  s3Port: 5055,
  sparkServerPort: 8790,
  mirrorRoot: path.join(CCMIX_HOME, 'mini-crawl'),
  stateDir: path.join(CCMIX_HOME, 'services'),
};

export interface ServiceStatus {
  name: ServiceName;
  pid: number | null;
  running: boolean;
  healthy: boolean;
  /** Up but not yet healthy by design: the Spark job server while its Spark starts. */
  starting?: boolean;
  address: string;
  log: string;
  detail?: string;
}

export const temporalAddress = (s: ServicesSettings): string => `${s.host}:${s.temporalPort}`;
export const mirrorUrl = (s: ServicesSettings): string => `http://${s.host}:${s.mirrorPort}/`;
export const s3Endpoint = (s: ServicesSettings): string => `http://${s.host}:${s.s3Port}`;
export const sparkServerUrl = (s: ServicesSettings): string => `http://${s.host}:${s.sparkServerPort}`;

/** S3 for local services: the emulator unless the environment names another endpoint. */
function s3Env(s: ServicesSettings): NodeJS.ProcessEnv {
  return { ...process.env, AWS_ENDPOINT_URL_S3: process.env.AWS_ENDPOINT_URL_S3 ?? s3Endpoint(s) };
}

function addressOf(name: ServiceName, s: ServicesSettings): string {
  switch (name) {
    case 'temporal':
      return `${temporalAddress(s)} (UI http://${s.host}:${s.temporalUiPort})`;
    case 'mirror':
      return mirrorUrl(s);
    case 's3':
      return s3Endpoint(s);
    case 'spark':
      return `${sparkServerUrl(s)} (${JOB_SERVER_SPARK.master})`;
    case 'worker':
      return `task queue ${TASK_QUEUE} on ${temporalAddress(s)}`;
  }
}

function command(
  name: ServiceName,
  s: ServicesSettings,
): { cmd: string; args: string[]; env?: NodeJS.ProcessEnv } {
  switch (name) {
    case 'temporal':
      return {
        cmd: venvBin('temporal'),
        args: [
          'server',
          'start-dev',
          '--ip',
          s.host,
          '--port',
          String(s.temporalPort),
          '--ui-port',
          String(s.temporalUiPort),
          '--db-filename',
          path.join(s.stateDir, 'temporal.sqlite'),
          '--namespace',
          NAMESPACE,
          '--log-level',
          'warn',
          ...SEARCH_ATTRIBUTE_KEYS.flatMap((key) => [
            '--search-attribute',
            `${key.name}=${key.type === SearchAttributeType.INT ? 'Int' : 'Keyword'}`,
          ]),
        ],
      };
    case 'mirror':
      return {
        cmd: process.execPath,
        args: [
          path.join(REPO_ROOT, 'dist/infra/mirror/server.js'),
          '--root',
          s.mirrorRoot,
          '--host',
          s.host,
          '--port',
          String(s.mirrorPort),
        ],
      };
    case 's3':
      return { cmd: venvBin('moto_server'), args: ['-H', s.host, '-p', String(s.s3Port)] };
    case 'spark':
      return jobServerCommand(s);
    case 'worker':
      return {
        cmd: process.execPath,
        args: [path.join(REPO_ROOT, 'bin/ccmix.js'), 'worker', '--address', temporalAddress(s)],
        env: { ...s3Env(s), [JOB_SERVER_ENV]: sparkServerUrl(s) },
      };
  }
}

/** spark-submit of `spark_jobs/server.py`, with the S3A jars so an S3 storage root works too. */
function jobServerCommand(s: ServicesSettings): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
  const env = s3Env(s);
  const settings = launchSettings(JOB_SERVER_SPARK, []);
  // The S3A jars are on the server's class path from the start; each job brings its buckets'
  // settings. Its executors run in this JVM: the class path, not `--jars` (which copies ~650 MiB
  // per start).
  const jars = s3aJars();
  const conf = {
    ...settings.conf,
    ...s3CommitConf(jars),
    'spark.driver.extraClassPath': sparkClassPath(jars).join(':'),
    'spark.ui.enabled': 'false',
  };
  return {
    cmd: venvBin('spark-submit'),
    args: [
      '--master',
      JOB_SERVER_SPARK.master,
      '--driver-memory',
      JOB_SERVER_SPARK.driverMemory,
      ...Object.entries(conf).flatMap(([k, v]) => ['--conf', `${k}=${v}`]),
      path.join(JOBS_DIR, 'spark_jobs', 'server.py'),
      ...['--host', s.host, '--port', String(s.sparkServerPort)],
    ],
    env: {
      ...env,
      ...settings.env,
      PYTHONPATH: JOBS_DIR,
      PYSPARK_PYTHON: venvBin('python'),
      PYSPARK_DRIVER_PYTHON: venvBin('python'),
    },
  };
}

const pidFile = (s: ServicesSettings, name: ServiceName): string => path.join(s.stateDir, `${name}.pid`);
const logFile = (s: ServicesSettings, name: ServiceName): string => path.join(s.stateDir, `${name}.log`);
const stateFile = (stateDir: string): string => path.join(stateDir, 'state.json');

function readPid(s: ServicesSettings, name: ServiceName): number | null {
  const file = pidFile(s, name);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function httpResponds(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.status < 500;
  } catch {
    return false;
  }
}

async function temporalHealthy(s: ServicesSettings): Promise<{ ok: boolean; detail?: string }> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: temporalAddress(s), connectTimeout: 2000 });
    const response = await connection.workflowService.getSystemInfo({});
    return { ok: true, detail: `server ${response.serverVersion}` };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  } finally {
    await connection?.close();
  }
}

/** Whether a worker polls the task queue, as `ccmix services status` reports the worker. */
export async function workerHealthy(s: ServicesSettings): Promise<{ ok: boolean; detail?: string }> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: temporalAddress(s), connectTimeout: 2000 });
    const response = await connection.workflowService.describeTaskQueue({
      namespace: NAMESPACE,
      taskQueue: { name: TASK_QUEUE },
    });
    const pollers = response.pollers?.length ?? 0;
    return { ok: pollers > 0, detail: `${pollers} poller(s)` };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  } finally {
    await connection?.close();
  }
}

async function checkHealth(
  name: ServiceName,
  s: ServicesSettings,
): Promise<{ ok: boolean; starting?: boolean; detail?: string }> {
  switch (name) {
    case 'temporal':
      return temporalHealthy(s);
    case 'mirror':
      return { ok: await httpResponds(`${mirrorUrl(s)}_mirror/stats`) };
    case 's3':
      return { ok: await httpResponds(`${s3Endpoint(s)}/`) };
    case 'spark': {
      const state = await jobServerState(sparkServerUrl(s));
      if (state === 'starting') return { ok: false, starting: true, detail: 'Spark is starting' };
      return state
        ? { ok: true, detail: `code ${state.code_version}, ${state.jobs_running} job(s) running` }
        : { ok: false };
    }
    case 'worker':
      return workerHealthy(s);
  }
}

export function loadSettings(overrides: Partial<ServicesSettings> = {}): ServicesSettings {
  const stateDir = overrides.stateDir ?? DEFAULT_SETTINGS.stateDir;
  const saved = existsSync(stateFile(stateDir))
    ? (JSON.parse(readFileSync(stateFile(stateDir), 'utf8')) as Partial<ServicesSettings>)
    : {};
  return { ...DEFAULT_SETTINGS, ...saved, ...overrides, stateDir };
}

export async function serviceStatus(name: ServiceName, s: ServicesSettings): Promise<ServiceStatus> {
  const pid = readPid(s, name);
  const running = pid !== null && isAlive(pid);
  const health = running ? await checkHealth(name, s) : { ok: false };
  return {
    name,
    pid: running ? pid : null,
    running,
    healthy: health.ok,
    ...(health.starting ? { starting: true } : {}),
    address: addressOf(name, s),
    log: logFile(s, name),
    ...(health.detail ? { detail: health.detail } : {}),
  };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

function lastLines(file: string, n: number): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
}

/**
 * A worker started before the last build runs old code, and so does a job server whose Spark
 * jobs changed since it started: either must be restarted.
 */
async function runsOldCode(name: ServiceName, s: ServicesSettings): Promise<boolean> {
  if (name === 'spark') {
    const health = await jobServerHealth(sparkServerUrl(s));
    return health !== null && health.code_version !== sparkJobsCodeVersion();
  }
  const build = path.join(REPO_ROOT, 'dist', '.tsbuildinfo');
  const pid = pidFile(s, name);
  return (
    name === 'worker' &&
    existsSync(build) &&
    existsSync(pid) &&
    statSync(build).mtimeMs > statSync(pid).mtimeMs
  );
}

/** Starts one service unless it is already running; resolves once it is healthy. */
export async function startService(
  name: ServiceName,
  s: ServicesSettings,
  // A JVM (the Spark job server) can take minutes to come up on a busy machine.
  timeoutMs = name === 'spark' ? 240_000 : 60_000,
): Promise<ServiceStatus> {
  mkdirSync(s.stateDir, { recursive: true });
  const current = await serviceStatus(name, s);
  if (current.running && current.healthy && !(await runsOldCode(name, s))) return current;
  // A job server still starting its SparkContext is waited for, not started over: that start is
  // what would be paid again.
  if (current.running && current.starting) return awaitHealthy(name, s, timeoutMs, true);
  if (current.running) await stopService(name, s);

  const { cmd, args, env } = command(name, s);
  if (!existsSync(cmd)) throw new Error(`${name}: ${cmd} is missing; run \`npm run setup\` first`);
  const log = openSync(logFile(s, name), 'a');
  try {
    const child = spawn(cmd, args, {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ['ignore', log, log],
      env: env ?? process.env,
    });
    if (child.pid === undefined) throw new Error(`${name}: failed to start ${cmd}`);
    writeFileSync(pidFile(s, name), `${child.pid}\n`);
    child.unref();
  } finally {
    closeSync(log);
  }
  return awaitHealthy(name, s, timeoutMs, false);
}

/**
 * Waits for a started service to become healthy. One that another `services up` had started
 * may run old code once it is up (its code version is unknown until then): then it starts over.
 */
async function awaitHealthy(
  name: ServiceName,
  s: ServicesSettings,
  timeoutMs: number,
  startedElsewhere: boolean,
): Promise<ServiceStatus> {
  const healthy = await waitUntil(async () => {
    const status = await serviceStatus(name, s);
    if (!status.running)
      throw new Error(`${name} exited during start-up:\n${lastLines(logFile(s, name), 20)}`);
    return status.healthy;
  }, timeoutMs);
  if (!healthy) {
    await stopService(name, s);
    throw new Error(`${name} did not become healthy in ${timeoutMs} ms:\n${lastLines(logFile(s, name), 20)}`);
  }
  if (startedElsewhere && (await runsOldCode(name, s))) return startService(name, s, timeoutMs);
  return serviceStatus(name, s);
}

/** Stops the service's whole process group: SIGTERM, then SIGKILL after a grace period. */
export async function stopService(name: ServiceName, s: ServicesSettings, graceMs = 10_000): Promise<void> {
  const pid = readPid(s, name);
  if (pid !== null && isAlive(pid)) {
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-pid, signal);
      } catch {
        // The group may already be gone.
      }
    };
    signalGroup('SIGTERM');
    if (!(await waitUntil(() => Promise.resolve(!isAlive(pid)), graceMs))) signalGroup('SIGKILL');
    await waitUntil(() => Promise.resolve(!isAlive(pid)), 5000);
  }
  rmSync(pidFile(s, name), { force: true });
}

export async function servicesUp(
  s: ServicesSettings,
  names: readonly ServiceName[] = SERVICE_NAMES,
): Promise<ServiceStatus[]> {
  mkdirSync(s.stateDir, { recursive: true });
  writeFileSync(stateFile(s.stateDir), JSON.stringify({ ...s, stateDir: undefined }, null, 2));
  const ordered = SERVICE_NAMES.filter((name) => names.includes(name));
  const statuses: ServiceStatus[] = [];
  // The worker needs Temporal; the others are independent but cheap to start in order.
  for (const name of ordered) {
    statuses.push(await startService(name, s));
    if (name === 'temporal') await registerSearchAttributes(s);
  }
  return statuses;
}

/**
 * A dev server started by an older ccmix lacks attributes added since (its SQLite keeps the old
 * set); a workflow that upserts one would fail every task. Adds the missing ones.
 */
async function registerSearchAttributes(s: ServicesSettings): Promise<void> {
  const connection = await Connection.connect({ address: temporalAddress(s), connectTimeout: 5000 });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({
      namespace: NAMESPACE,
    });
    const missing = SEARCH_ATTRIBUTE_KEYS.filter((key) => !customAttributes?.[key.name]);
    if (missing.length === 0) return;
    await connection.operatorService.addSearchAttributes({
      namespace: NAMESPACE,
      searchAttributes: Object.fromEntries(
        missing.map((key) => [
          key.name,
          key.type === SearchAttributeType.INT
            ? temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT
            : temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        ]),
      ),
    });
  } finally {
    await connection.close();
  }
}

export async function servicesDown(
  s: ServicesSettings,
  names: readonly ServiceName[] = SERVICE_NAMES,
): Promise<void> {
  for (const name of [...SERVICE_NAMES].reverse().filter((n) => names.includes(n)))
    await stopService(name, s);
}

export async function servicesStatus(s: ServicesSettings): Promise<ServiceStatus[]> {
  return Promise.all(SERVICE_NAMES.map((name) => serviceStatus(name, s)));
}
