/** Starting and watching buildMixture runs from the outside (CLI, demo, tests). */
import {
  Client,
  Connection,
  isGrpcServiceError,
  WorkflowIdConflictPolicy,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { parseConfig, type Config } from '../config/schema';
import {
  buildMixtureWorkflowId,
  downloadWorkflowId,
  NAMESPACE,
  RUN_SEARCH_ATTRIBUTE,
  TASK_QUEUE,
} from '../config/temporal';
import { configFingerprint } from '../core/fingerprint';
import type { VerifyLive } from '../core/mix/verify';
import type { BuildMixtureProgress, BuildMixtureResult, DownloadCrawlProgress } from '../workflows';
import type { SparkLive } from './render';

export async function connectClient(address: string): Promise<Client> {
  const connection = await Connection.connect({ address }).catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot reach Temporal at ${address} (${reason}); is it up? \`ccmix services up\``);
  });
  return new Client({ connection, namespace: NAMESPACE });
}

/** The id of a config's run: its name and fingerprint, so the same config names the same run. */
export function runWorkflowId(config: Config): string {
  return buildMixtureWorkflowId(config.name, configFingerprint(config));
}

/**
 * Validates locally first (the same schema the workflow applies), then starts buildMixture.
 * The id derives from the config, so starting the same config twice attaches to the running one:
 * `attached` says so (the run already running is the one returned).
 */
export async function startBuildMixture(
  client: Client,
  input: unknown,
): Promise<{ workflowId: string; config: Config; attached: boolean }> {
  const config = parseConfig(input);
  const workflowId = runWorkflowId(config);
  const running = await runningExecution(client, workflowId);
  const handle = await client.workflow.start('buildMixture', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [config],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    typedSearchAttributes: [{ key: RUN_SEARCH_ATTRIBUTE, value: config.name }],
  });
  return { workflowId, config, attached: running !== null && handle.firstExecutionRunId === running };
}

/** The run id of `workflowId`'s execution if one is running, else null. */
async function runningExecution(client: Client, workflowId: string): Promise<string | null> {
  try {
    const description = await client.workflow.getHandle(workflowId).describe();
    return description.status.name === 'RUNNING' ? description.runId : null;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  }
}

export async function queryProgress(client: Client, workflowId: string): Promise<BuildMixtureProgress> {
  return client.workflow.getHandle(workflowId).query<BuildMixtureProgress>('progress');
}

export interface RunStatus {
  workflowId: string;
  status: string;
  progress: BuildMixtureProgress;
  /** Live progress of each crawl's download workflow that has started. */
  downloads: DownloadCrawlProgress[];
  /** The running Spark job's last heartbeat, if one is running. */
  sparkLive: SparkLive | null;
  /** The mixture's verification, while it scans the data files. */
  verifyLive: VerifyLive | null;
  /** Why a failed run failed: the innermost cause's message (the one that names the problem). */
  failure?: string;
}

/** The innermost message of a failure chain: `Activity task failed` says less than its cause. */
export function failureMessage(error: unknown): string {
  let current: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  while (current instanceof Error) {
    message = current.message || message;
    current = current.cause;
  }
  return message;
}

/** gRPC's codes for a query no worker took: none polls the task queue (9) or none answered in time (4). */
const UNANSWERED_CODES = new Set([4, 9]);
/** gRPC's code for a server that cannot be reached, for example while it restarts. */
export const UNAVAILABLE_CODE = 14;

/** The gRPC status code somewhere in an error's cause chain, if there is one. */
export function grpcCode(error: unknown): number | undefined {
  for (let current: unknown = error; current instanceof Error; current = current.cause)
    if (isGrpcServiceError(current)) return current.code;
  return undefined;
}

/**
 * The run's progress query went unanswered: queries are answered by a worker, and none is polling
 * the run's task queue (it was stopped, killed, or is restarting). The run itself waits for one.
 */
export class NoWorkerAnswerError extends Error {
  constructor(
    readonly workflowId: string,
    readonly runState: string,
    reason: string,
    /** Why a run that ended without its result ended: the server knows without a worker. */
    ended?: string,
  ) {
    super(
      `${workflowId} is ${runState}${ended ? ` (${ended})` : ''}, but no worker answers its progress query (${reason}); is a worker up? \`ccmix worker\``,
    );
    this.name = 'NoWorkerAnswerError';
  }
}

/** How a run can end without its result (`ccmix status` says why, and exits 1). */
export const ENDED_WITHOUT_RESULT: ReadonlySet<string> = new Set([
  'FAILED',
  'TERMINATED',
  'CANCELLED',
  'TIMED_OUT',
]);

/** The run's own progress plus its children's: children are queried, not reported, to keep histories small. */
export async function runStatus(client: Client, workflowId: string): Promise<RunStatus> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  const status = description.status.name;
  const endedBecause = async (): Promise<string | undefined> =>
    ENDED_WITHOUT_RESULT.has(status)
      ? failureMessage(
          await handle.result().then(
            () => null,
            (e: unknown) => e,
          ),
        )
      : undefined;
  const progress = await handle.query<BuildMixtureProgress>('progress').catch(async (error: unknown) => {
    if (!UNANSWERED_CODES.has(grpcCode(error) ?? -1)) throw error;
    throw new NoWorkerAnswerError(workflowId, status, failureMessage(error), await endedBecause());
  });
  const downloads: DownloadCrawlProgress[] = [];
  if (progress.stage === 'download' || progress.download.done > 0) {
    const queries = Object.keys(progress.crawls).map((crawl) =>
      client.workflow
        .getHandle(downloadWorkflowId(workflowId, crawl))
        .query<DownloadCrawlProgress>('downloadProgress')
        .catch(() => null),
    );
    for (const p of await Promise.all(queries)) if (p) downloads.push(p);
  }
  let sparkLive: SparkLive | null = null;
  let verifyLive: VerifyLive | null = null;
  const { payloadConverter } = client.options.loadedDataConverter;
  for (const pending of description.raw.pendingActivities ?? []) {
    const payload = pending.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    if (pending.activityType?.name === 'runSparkJob')
      sparkLive = payloadConverter.fromPayload<SparkLive>(payload);
    if (pending.activityType?.name === 'verifyMixture')
      // The first files are read before any is scanned: their heartbeats carry no count yet.
      verifyLive = payloadConverter.fromPayload<VerifyLive | undefined>(payload) ?? null;
  }
  const failure = await endedBecause();
  return { workflowId, status, progress, downloads, sparkLive, verifyLive, ...(failure ? { failure } : {}) };
}

export async function waitForResult(
  client: Client,
  workflowId: string,
  onProgress?: (progress: BuildMixtureProgress) => void,
  pollMs = 1000,
): Promise<BuildMixtureResult> {
  const handle = client.workflow.getHandle(workflowId);
  const result = handle.result() as Promise<BuildMixtureResult>;
  if (!onProgress) return result;
  let finished = false;
  void result.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    if (finished) break;
    const progress = await handle.query<BuildMixtureProgress>('progress').catch(() => null);
    if (progress) onProgress(progress);
  }
  return result;
}
