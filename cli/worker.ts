/** The ccmix worker: runs buildMixture and its activities on the ccmix task queue. */
import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from '../activities';
import { NAMESPACE, TASK_QUEUE } from '../config/temporal';
import { cancelOrphanedServerJobs } from '../core/spark/launch';
import { killOrphanedProcesses, ownerAlive } from '../core/spark/orphans';
import { JOB_SERVER_ENV } from '../core/spark/submit';

/**
 * Spark jobs of workers that died (SIGKILL, a crash) keep running and keep writing: stop them
 * before this worker takes their retried activities.
 */
export async function stopOrphanedSparkJobs(): Promise<{ processes: number[]; serverJobs: string[] }> {
  const processes = killOrphanedProcesses();
  const url = process.env[JOB_SERVER_ENV];
  const serverJobs = url ? await cancelOrphanedServerJobs(url, ownerAlive) : [];
  return { processes, serverJobs };
}

export interface WorkerOptions {
  address: string;
  namespace?: string;
  taskQueue?: string;
  /** Benchmarks replace an activity at an edge they do not measure; the worker runs the real ones. */
  activities?: typeof activities;
}

export async function createWorker(
  opts: WorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection }> {
  const orphans = await stopOrphanedSparkJobs();
  if (orphans.processes.length + orphans.serverJobs.length > 0) {
    console.warn(
      `ccmix worker: stopped orphaned Spark jobs of earlier workers: ${orphans.processes.length} process(es), ${orphans.serverJobs.length} job-server job(s)`,
    );
  }
  const connection = await NativeConnection.connect({ address: opts.address });
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace ?? NAMESPACE,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    activities: opts.activities ?? activities,
    // Heartbeats carry progress and deliver cancellation; do not hold them back for long.
    maxHeartbeatThrottleInterval: '2 seconds',
  });
  return { worker, connection };
}

/** Runs until SIGINT/SIGTERM (the SDK installs those handlers and drains in-flight work). */
export async function runWorker(opts: WorkerOptions): Promise<void> {
  const { worker, connection } = await createWorker(opts);
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}
