/**
 * The fault lab: real services (Temporal dev server on SQLite, the mirror, the shared Spark job
 * server), ccmix workers as child processes that can be SIGKILLed, and one storage root path that
 * every run uses, so a disturbed run's manifest can be compared byte for byte with an undisturbed
 * one (the config, storage root included, is part of the manifest).
 *
 * A scenario starts from a copy of the reference run's storage root with some committed stages
 * removed: the run redoes exactly those under the disturbance and skips the others by their
 * fingerprints, as a resumed production run would. A redone stage that writes other rows changes
 * its content digest, so every stage after it runs again and the comparison shows it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { connectClient, runWorkflowId, startBuildMixture } from '../../cli/client';
import { parseConfig, REFERENCE_CORPORA } from '../../config/schema';
import { decodeInventory } from '../../core/download/inventory';
import { generateMiniCrawl } from '../../core/minicrawl';
import { CCMIX_HOME, REPO_ROOT } from '../../core/paths';
import { JOB_SERVER_ENV } from '../../core/spark/submit';
import { mirrorUrl, servicesUp, stopService, temporalAddress, workerHealthy } from '../../infra/services';
import type { BuildMixtureResult } from '../../workflows';
import type { TemporalUi } from '../helpers/browser';
import { quietTemporalRuntime, startTestServices, tempDir, type TestServices } from '../helpers/services';

export interface StageCommit {
  fingerprint: string;
  outputDigest: string | null;
  rowsIn: number;
  rowsKept: number;
  droppedByReason: Record<string, number>;
}

/** What two runs must agree on: every committed stage's content and counts, every output byte. */
export interface RootSnapshot {
  /** Storage-relative path → sha256, for downloaded WET files, inventories and the mixture's files. */
  files: Record<string, string>;
  /** Spark stage name → its committed fingerprints with their content digests and counts. */
  stages: Record<string, StageCommit[]>;
}

export interface Leftovers {
  /** Attempt folders beside a stage's committed one (an abandoned attempt not cleaned up). */
  strayAttempts: string[];
  /** Files in download staging after the run finished. */
  staging: string[];
  /** Stage folders without `_SUCCESS` (a half-written stage). */
  uncommitted: string[];
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function walk(dir: string, base = dir): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? walk(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))],
    )
    .sort();
}

interface Committed {
  output: string;
  outputDigest: string | null;
  metrics: { rows_in: number; rows_kept: number; dropped_by_reason: Record<string, number> };
}

/** A stage fingerprint folder's commit marker, or null while it is uncommitted. */
function readCommit(dir: string): Committed | null {
  const marker = path.join(dir, '_SUCCESS');
  return existsSync(marker) ? (JSON.parse(readFileSync(marker, 'utf8')) as Committed) : null;
}

/** The output folder each committed fingerprint of `stage` names (its attempt's `data/`). */
export function committedOutputs(root: string, stage: string): string[] {
  const dir = path.join(root, 'spark', stage);
  return (existsSync(dir) ? readdirSync(dir).sort() : []).flatMap(
    (fp) => readCommit(path.join(dir, fp))?.output ?? [],
  );
}

export async function snapshot(root: string): Promise<RootSnapshot> {
  const files: Record<string, string> = {};
  for (const rel of walk(path.join(root, 'raw'))) {
    const full = path.join(root, 'raw', rel);
    // An inventory row also counts the retries its file took, which a disturbance changes on
    // purpose: compare what it says about the files.
    files[`raw/${rel}`] = rel.endsWith('.parquet')
      ? JSON.stringify((await decodeInventory(readFileSync(full))).map((r) => ({ ...r, retries: undefined })))
      : sha256(full);
  }
  const stages: Record<string, StageCommit[]> = {};
  for (const stage of existsSync(path.join(root, 'spark'))
    ? readdirSync(path.join(root, 'spark')).sort()
    : []) {
    for (const fingerprint of readdirSync(path.join(root, 'spark', stage)).sort()) {
      const commit = readCommit(path.join(root, 'spark', stage, fingerprint));
      if (!commit) continue;
      (stages[stage] ??= []).push({
        fingerprint,
        outputDigest: commit.outputDigest,
        rowsIn: commit.metrics.rows_in,
        rowsKept: commit.metrics.rows_kept,
        droppedByReason: commit.metrics.dropped_by_reason,
      });
      // The product: the mixture's Parquet, dataset card and manifest, byte for byte (its path
      // names the attempt folder, which differs between runs by design).
      if (stage === 'mix') {
        for (const rel of walk(path.join(root, commit.output))) {
          files[`mix/${fingerprint}/${rel}`] = sha256(path.join(root, commit.output, rel));
        }
      }
    }
  }
  return { files, stages };
}

export function leftovers(root: string): Leftovers {
  const out: Leftovers = { strayAttempts: [], staging: [], uncommitted: [] };
  const sparkDir = path.join(root, 'spark');
  for (const stage of existsSync(sparkDir) ? readdirSync(sparkDir) : []) {
    for (const fingerprint of readdirSync(path.join(sparkDir, stage))) {
      const dir = path.join(sparkDir, stage, fingerprint);
      const commit = readCommit(dir);
      if (!commit) {
        out.uncommitted.push(`spark/${stage}/${fingerprint}`);
        continue;
      }
      const committed = commit.output.split('/')[3];
      for (const entry of readdirSync(dir)) {
        if (entry.startsWith('attempt-') && entry !== committed)
          out.strayAttempts.push(`spark/${stage}/${fingerprint}/${entry}`);
      }
    }
  }
  out.staging = walk(path.join(root, '_staging')).filter((f) => !f.endsWith('/'));
  return out;
}

export interface Worker {
  process: ChildProcess;
  log: string;
}

export class FaultLab {
  services!: TestServices;
  client!: Client;
  /** The one storage root path every run uses. */
  readonly root: string;
  /** The reference run's storage root, kept for copying. */
  readonly reference: string;
  readonly runName = `faults-${process.pid}`;
  readonly crawls = ['CC-MAIN-2016-50', 'CC-MAIN-2019-09'];
  /** Both small crawls share one extraction job (extract.maxBytesPerJob), as the demo's 41 do. */
  readonly extractStage = 'extract-CC-MAIN-2016-50-to-CC-MAIN-2019-09';
  /** 97 rows of 2048 ids. */
  readonly mixTokens = 200_000;
  private readonly workDir = tempDir('faults');
  private crawlDir = '';
  private workers: Worker[] = [];
  private readonly allWorkers: Worker[] = [];
  private workerCount = 0;

  constructor() {
    this.root = path.join(this.workDir, 'root');
    this.reference = path.join(this.workDir, 'reference');
  }

  async start(): Promise<void> {
    quietTemporalRuntime();
    this.crawlDir = path.join(this.workDir, 'crawl');
    await generateMiniCrawl({ outDir: this.crawlDir, size: 1, seed: 21, crawls: this.crawls });
    this.services = await startTestServices(['temporal', 'mirror'], this.crawlDir);
    this.client = await connectClient(temporalAddress(this.services.settings));
  }

  async stop(): Promise<void> {
    for (const w of this.workers) w.process.kill('SIGKILL');
    await this.client?.connection.close();
    await this.services?.stop();
    rmSync(path.join(CCMIX_HOME, 'logs', this.runName), { recursive: true, force: true });
    spawnSync('umount', [this.root], { stdio: 'ignore' });
    rmSync(this.workDir, { recursive: true, force: true });
  }

  /** The lab's config; `mixture` settings are laid over its own (another config, another run id). */
  config(mixture: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      name: this.runName,
      crawls: this.crawls,
      source: { kind: 'http', baseUrl: mirrorUrl(this.services.settings) },
      wetFilesPerCrawl: { fraction: 1 },
      storageRoot: this.root,
      referenceCorpora: Object.fromEntries(
        REFERENCE_CORPORA.map((c) => [
          c,
          { path: path.join(this.crawlDir, 'reference', c), format: 'jsonl' },
        ]),
      ),
      // A dead worker's activity moves to a live one after a heartbeat timeout: short here.
      download: { heartbeatTimeoutSeconds: 5, retryBaseDelayMs: 100, retryMaxDelayMs: 1000 },
      spark: { master: 'local[2]', driverMemory: '1g', heartbeatTimeoutSeconds: 5 },
      // As in quality.workflow.test: α = 2 leaves Common Crawl rows to mix from two crawls.
      pareto: { alpha: 2 },
      mixture: { totalTokens: this.mixTokens, ...mixture },
      report: { groundTruth: path.join(this.crawlDir, 'ground-truth') },
    };
  }

  /** A `ccmix worker` process; `sparkServer: false` makes its Spark jobs go through spark-submit. */
  startWorker(opts: { sparkServer?: boolean } = {}): Worker {
    const log = path.join(this.workDir, `worker-${++this.workerCount}.log`);
    const env = { ...process.env };
    if (opts.sparkServer === false) delete env.CCMIX_SPARK_SERVER;
    const out = openSync(log, 'a');
    const child = spawn(
      process.execPath,
      [path.join(REPO_ROOT, 'bin/ccmix.js'), 'worker', '--address', temporalAddress(this.services.settings)],
      { stdio: ['ignore', out, out], env },
    );
    const worker = { process: child, log };
    this.workers.push(worker);
    this.allWorkers.push(worker);
    return worker;
  }

  /**
   * Waits until a worker polls the task queue, as a user starts a run once a worker is up. With no
   * poller yet, the UI's form inserts a "Task Queue is Inactive" warning above the Start button as
   * it is filled; CI once saw no start notice after the click while that warning showed.
   */
  async waitForPoller(timeoutMs = 60_000): Promise<void> {
    const polled = async () => ((await workerHealthy(this.services.settings)).ok ? true : undefined);
    await waitUntil('a worker polling the task queue', polled, timeoutMs);
  }

  kill(worker: Worker): void {
    worker.process.kill('SIGKILL');
  }

  stopWorkers(): void {
    for (const w of this.workers) if (w.process.exitCode === null) w.process.kill('SIGKILL');
    this.workers = [];
  }

  /** SIGKILLs the dev server (no grace), waits, and starts it again on its SQLite file and ports. */
  async restartTemporal(downMs: number): Promise<void> {
    await stopService('temporal', this.services.settings, 0);
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await servicesUp(this.services.settings, ['temporal']);
  }

  /**
   * Puts the storage root on its own tmpfs of `bytes` (keeping what it holds), so a test can fill
   * it or make it read-only. False when this machine does not let the test mount one.
   */
  mountRoot(bytes: number): boolean {
    const held = `${this.root}.held`;
    rmSync(held, { recursive: true, force: true });
    cpSync(this.root, held, { recursive: true });
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', this.root], {
      encoding: 'utf8',
    });
    if (mounted.status !== 0) return false;
    try {
      cpSync(held, this.root, { recursive: true });
    } catch (error) {
      this.unmountRoot();
      throw error;
    }
    rmSync(held, { recursive: true, force: true });
    return true;
  }

  /** `mount -o remount,<options>` of the storage root's tmpfs (e.g. `ro`, `rw`, `size=64m`). */
  remountRoot(options: string): void {
    const result = spawnSync('mount', ['-o', `remount,${options}`, this.root], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`remount ${options}: ${result.stderr}`);
  }

  unmountRoot(): void {
    spawnSync('umount', [this.root], { stdio: 'ignore' });
  }

  /** The storage root as the reference left it, without `remove` (paths relative to the root). */
  resetRoot(remove: string[]): void {
    if (!existsSync(this.reference)) throw new Error('no reference run to start from (it failed)');
    rmSync(this.root, { recursive: true, force: true });
    cpSync(this.reference, this.root, { recursive: true });
    for (const rel of remove) rmSync(path.join(this.root, rel), { recursive: true, force: true });
    rmSync(path.join(this.root, 'reports'), { recursive: true, force: true });
  }

  keepAsReference(): void {
    cpSync(this.root, this.reference, { recursive: true });
  }

  /**
   * Every Spark job attempt this lab's workers launched: spark-submit leaves a log per attempt,
   * the job server lists its jobs with their owner.
   */
  async sparkLaunches(): Promise<string[]> {
    const dir = path.join(CCMIX_HOME, 'logs', this.runName);
    const logs = existsSync(dir) ? readdirSync(dir).map((f) => f.replace(/\.log$/, '')) : [];
    const url = process.env[JOB_SERVER_ENV];
    const pids = new Set(this.allWorkers.map((w) => w.process.pid));
    const served = url
      ? ((await (await fetch(`${url}/jobs`)).json()) as { id: string; owner: { pid?: number } }[])
          .filter((job) => pids.has(job.owner.pid))
          .map((job) => job.id)
      : [];
    return [...logs, ...served].sort();
  }

  /** Every run of a config has the same workflow id (a new run of it each time). */
  async startRun(mixture: Record<string, unknown> = {}): Promise<string> {
    const { workflowId } = await startBuildMixture(this.client, this.config(mixture));
    return workflowId;
  }

  /** The id `ccmix run` gives this config's run. */
  workflowId(): string {
    return runWorkflowId(parseConfig(this.config()));
  }

  /**
   * Starts the run from the Temporal UI's Start Workflow form, as the README tells a user to: the
   * config pasted as JSON, and typed in, the id `ccmix run` would give it (so later runs of this
   * config are new runs of the same id). Leaves the page on the run's page.
   */
  async startRunFromUi(ui: TemporalUi): Promise<{ workflowId: string; pasted: string }> {
    const workflowId = this.workflowId();
    const pasted = JSON.stringify(this.config(), null, 2);
    await ui.start(workflowId, pasted);
    return { workflowId, pasted };
  }

  /** The run's result; polls through a Temporal restart (a long poll breaks with the server). */
  async result(workflowId: string, timeoutMs: number): Promise<BuildMixtureResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return (await this.client.workflow.getHandle(workflowId).result()) as BuildMixtureResult;
      } catch (error) {
        const transient = /UNAVAILABLE|unavailable|ECONNREFUSED|connection|deadline/i.test(String(error));
        if (!transient || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  sizeOf(rel: string): number {
    const full = path.join(this.root, rel);
    if (!existsSync(full)) return 0;
    return walk(full).reduce((n, f) => n + statSync(path.join(full, f)).size, 0);
  }

  ensureRoot(): void {
    mkdirSync(this.root, { recursive: true });
  }
}

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
