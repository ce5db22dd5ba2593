/** The ccmix worker: runs buildMixture and its activities on the ccmix task queue. */
import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from '../activities';
import { NAMESPACE, TASK_QUEUE } from '../config/temporal';

export interface WorkerOptions {
  address: string;
  namespace?: string;
  taskQueue?: string;
}

export async function createWorker(
  opts: WorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect({ address: opts.address });
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace ?? NAMESPACE,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    activities,
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
