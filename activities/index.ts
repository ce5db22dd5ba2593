/**
 * Activities adapt plain functions (core/) to Temporal: retry classification, heartbeats,
 * cancellation. No pipeline logic lives here.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { PermanentSourceError } from '../core/commoncrawl-source';
import { UnsafePathError } from '../core/storage';
import type { SparkProgress } from '../core/spark/progress';
import {
  runSparkJob as runSparkJobPlain,
  SparkBadInputError,
  type SparkJobInput,
  type SparkJobResult,
} from '../core/spark/submit';
import {
  BadPathsListError,
  discoverCrawl as discoverCrawlPlain,
  type DiscoverInput,
  type DiscoverResult,
} from '../core/discover';
import {
  downloadBatch as downloadBatchPlain,
  type BatchHeartbeat,
  type DownloadBatchInput,
  type DownloadBatchResult,
} from '../core/download/batch';
import {
  verifyMixOutput,
  writeMixManifest,
  type ManifestStepInput,
  type MixtureSummary,
  type VerifyMixInput,
} from '../core/mix/finish';
import {
  MixPlanError,
  planMixture as planMixturePlain,
  type Measured,
  type MixPlan,
  type Mixture,
} from '../core/mix/plan';
import {
  assertVerified,
  MixVerificationError,
  type VerificationReport,
  type VerifyLive,
} from '../core/mix/verify';
import type { RunReportFiles, RunReportInput } from '../core/report/facts';
import { writeRunReport as writeRunReportPlain } from '../core/report/write';
import {
  finalizeCrawlInventory as finalizePlain,
  InventoryIncompleteError,
  type FinalizeInput,
  type FinalizeResult,
} from '../core/download/finalize';

/**
 * A storage root that is full, read-only or not ours to write: every retry would fail the same
 * way, so the run fails at once and says so; the operator fixes it and re-runs.
 */
const STORAGE_UNUSABLE = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

function storageUnusable(error: unknown): ApplicationFailure | null {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (!code || !STORAGE_UNUSABLE.has(code)) return null;
  return ApplicationFailure.nonRetryable(
    `the storage root cannot be written (${code}): ${(error as Error).message}`,
    'StorageUnusable',
  );
}

function asPermanent(error: unknown): never {
  const unusable = storageUnusable(error);
  if (unusable) throw unusable;
  if (error instanceof PermanentSourceError) {
    throw ApplicationFailure.nonRetryable(error.message, 'SourceObjectMissing', { status: error.status });
  }
  if (error instanceof UnsafePathError) {
    throw ApplicationFailure.nonRetryable(error.message, 'UnsafePath');
  }
  if (error instanceof BadPathsListError) {
    throw ApplicationFailure.nonRetryable(error.message, 'BadPathsList');
  }
  if (error instanceof InventoryIncompleteError) {
    throw ApplicationFailure.nonRetryable(error.message, 'InventoryIncomplete');
  }
  throw error;
}

export async function discoverCrawl(input: DiscoverInput): Promise<DiscoverResult & { skipped: boolean }> {
  return discoverCrawlPlain(input).catch(asPermanent);
}

/** Heartbeats the batch's progress; a retry resumes from the last heartbeat and the partial files on disk. */
export async function downloadBatch(input: DownloadBatchInput): Promise<DownloadBatchResult> {
  const context = Context.current();
  const resumeFrom = context.info.heartbeatDetails as BatchHeartbeat | undefined;
  return downloadBatchPlain(input, {
    heartbeat: (details) => context.heartbeat(details),
    signal: context.cancellationSignal,
    ...(resumeFrom ? { resumeFrom } : {}),
  }).catch(asPermanent);
}

export async function finalizeCrawlInventory(input: FinalizeInput): Promise<FinalizeResult> {
  const context = Context.current();
  return finalizePlain(input, (partsRead) => context.heartbeat({ partsRead })).catch(asPermanent);
}

/**
 * Submits one Spark job and heartbeats its stage and task counts (every second, also while
 * Spark is still starting). Cancelling the activity kills spark-submit's whole process group.
 */
export async function runSparkJob(input: SparkJobInput): Promise<SparkJobResult> {
  const context = Context.current();
  let latest: SparkProgress | null = null;
  const beat = (): void => context.heartbeat({ stage: input.stage, spark: latest });
  const timer = setInterval(beat, 1000);
  beat();
  try {
    return await runSparkJobPlain(input, {
      onProgress: (progress) => {
        latest = progress;
        beat();
      },
      signal: context.cancellationSignal,
      attempt: context.info.attempt,
    });
  } catch (error) {
    if (error instanceof SparkBadInputError)
      throw ApplicationFailure.nonRetryable(error.message, 'BadSparkInput');
    throw storageUnusable(error) ?? error;
  } finally {
    clearInterval(timer);
  }
}

/** The mixture plan from what the count job measured; a source with no data is a plan error. */
export function planMixture(input: {
  mixture: Mixture;
  measured: Record<string, Measured>;
}): Promise<MixPlan> {
  try {
    return Promise.resolve(planMixturePlain(input.mixture, input.measured));
  } catch (error) {
    if (error instanceof MixPlanError) throw ApplicationFailure.nonRetryable(error.message, 'MixPlanError');
    throw error;
  }
}

/**
 * A failed check fails the run: the output is wrong, and a retry would read the same bytes.
 * Heartbeats after every file it reads (at 300B tokens and 50,000 rows a file: ~2,930 files of
 * ~160 MB), with how far the data scan is; a retry resumes the scan from its saved progress.
 */
export async function verifyMixture(input: VerifyMixInput): Promise<VerificationReport> {
  const context = Context.current();
  let live: VerifyLive | undefined;
  try {
    const report = await verifyMixOutput(input, {
      onFile: () => context.heartbeat(live),
      onDataFile: (now) => {
        live = now;
        context.heartbeat(live);
      },
    });
    assertVerified(report);
    return report;
  } catch (error) {
    if (error instanceof MixVerificationError) {
      throw ApplicationFailure.nonRetryable(error.message, 'MixVerificationFailed', {
        check: error.check,
        failed: error.failed,
      });
    }
    throw error;
  }
}

export async function writeManifest(input: ManifestStepInput): Promise<MixtureSummary> {
  return writeMixManifest(input);
}

/** report.json and report.html under `reports/<workflowId>/`; an unsafe workflow id is permanent. */
export async function writeRunReport(input: RunReportInput): Promise<RunReportFiles> {
  return writeRunReportPlain(input).catch(asPermanent);
}
