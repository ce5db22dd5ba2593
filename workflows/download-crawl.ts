/**
 * downloadCrawl: one crawl's chosen WET files, a batch per activity, one batch in flight at a
 * time (files within a batch download in parallel). The workflow passes paths and counts only,
 * and continues as new every `batchesPerWorkflowRun` batches, so its history stays bounded
 * however many files a crawl has.
 *
 * The parent's controls (workflows/controls.ts) come in the input and by signal: the child waits
 * while paused before each next activity, and each batch takes the limits current at its start.
 */
import { continueAsNew, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { Config } from '../config/schema';
import { downloadControlsSignal, untilResumed, type DownloadControls } from './controls';
import { downloadOptions } from './activity-options';
import type { Source } from '../core/commoncrawl-source';
import type { DownloadTotals } from '../core/download/batch';

/** The same counts a batch reports, summed over the crawl. */
export type DownloadCrawlTotals = DownloadTotals;

export interface DownloadCrawlInput {
  crawl: string;
  source: Source;
  storageRoot: string;
  keysPath: string;
  listId: string;
  /** How many keys discover chose for this crawl. */
  files: number;
  settings: Config['download'];
  parallelFiles: number;
  /** The parent's controls at start; absent in runs started before controls existed. */
  controls?: DownloadControls;
  /** Where a continued run picks up. */
  cursor?: { nextBatch: number; totals: DownloadCrawlTotals; runs: number };
}

export interface DownloadCrawlProgress extends DownloadCrawlTotals {
  crawl: string;
  filesTotal: number;
  batchesDone: number;
  batches: number;
  /** Requests per second the run allowed itself at the last batch. */
  rate: number;
  workflowRuns: number;
  paused: boolean;
  /** What the next batch takes: files in flight and the rate ceiling. */
  limits: { parallelFiles: number; maxRequestsPerSecond: number };
}

export interface DownloadCrawlResult extends DownloadCrawlTotals {
  crawl: string;
  /** Storage-relative inventory the child wrote (read it through `inventoryOf`: old recorded results lack it). */
  inventory: string;
  quarantinedReasons: Record<string, number>;
  workflowRuns: number;
}

export const downloadProgressQuery = defineQuery<DownloadCrawlProgress>('downloadProgress');

export const emptyTotals = (): DownloadCrawlTotals => ({
  files: 0,
  ok: 0,
  quarantined: 0,
  bytes: 0,
  fetchedBytes: 0,
  retries: 0,
});

function addTotals(a: DownloadCrawlTotals, b: DownloadCrawlTotals): DownloadCrawlTotals {
  return {
    files: a.files + b.files,
    ok: a.ok + b.ok,
    quarantined: a.quarantined + b.quarantined,
    bytes: a.bytes + b.bytes,
    fetchedBytes: a.fetchedBytes + b.fetchedBytes,
    retries: a.retries + b.retries,
  };
}

export type DownloadSummary = DownloadCrawlTotals & {
  quarantinedReasons: Record<string, number>;
  /** Storage-relative inventory of each downloaded crawl (named by the run's selection). */
  inventories: Record<string, string>;
};

/**
 * The inventory a download child wrote. A result recorded before children returned it has none:
 * such runs wrote `raw/<crawl>/inventory.parquet` (core/download/inventory's legacyInventoryPath,
 * not imported here: it pulls in storage code that has no place in a workflow).
 */
export function inventoryOf(result: { crawl: string; inventory?: string }): string {
  return result.inventory ?? `raw/${result.crawl}/inventory.parquet`;
}

export function sumDownloads(results: readonly DownloadCrawlResult[]): DownloadSummary {
  const summary: DownloadSummary = { ...emptyTotals(), quarantinedReasons: {}, inventories: {} };
  for (const r of results) {
    Object.assign(summary, addTotals(summary, r));
    summary.inventories[r.crawl] = inventoryOf(r);
    for (const [reason, n] of Object.entries(r.quarantinedReasons)) {
      summary.quarantinedReasons[reason] = (summary.quarantinedReasons[reason] ?? 0) + n;
    }
  }
  return summary;
}

export async function downloadCrawl(input: DownloadCrawlInput): Promise<DownloadCrawlResult> {
  const { settings } = input;
  const options = downloadOptions(settings.heartbeatTimeoutSeconds);
  const { downloadBatch, finalizeCrawlInventory } = proxyActivities<typeof activities>(options);
  const batches = Math.ceil(input.files / settings.filesPerActivity);
  const cursor = input.cursor ?? { nextBatch: 0, totals: emptyTotals(), runs: 1 };
  // Changed in place, so that a wait on it sees the change.
  const controls: DownloadControls = {
    ...(input.controls ?? {
      paused: false,
      parallelFiles: input.parallelFiles,
      maxRequestsPerSecond: settings.maxRequestsPerSecond,
      seq: 0,
    }),
  };
  const shown = (c: DownloadControls): Pick<DownloadCrawlProgress, 'paused' | 'limits'> => ({
    paused: c.paused,
    limits: { parallelFiles: c.parallelFiles, maxRequestsPerSecond: c.maxRequestsPerSecond },
  });
  const progress: DownloadCrawlProgress = {
    crawl: input.crawl,
    filesTotal: input.files,
    batchesDone: cursor.nextBatch,
    batches,
    rate: settings.maxRequestsPerSecond,
    workflowRuns: cursor.runs,
    ...shown(controls),
    ...cursor.totals,
  };
  setHandler(downloadProgressQuery, () => progress);
  setHandler(downloadControlsSignal, (next) => {
    if (next.seq <= controls.seq) return;
    Object.assign(controls, next);
    Object.assign(progress, shown(controls));
  });

  let totals = cursor.totals;
  for (let batch = cursor.nextBatch, inThisRun = 0; batch < batches; batch++, inThisRun++) {
    if (inThisRun >= settings.batchesPerWorkflowRun || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof downloadCrawl>({
        ...input,
        controls,
        cursor: { nextBatch: batch, totals, runs: cursor.runs + 1 },
      });
    }
    await untilResumed(controls);
    const summary = `download ${input.crawl} batch ${batch + 1}/${batches}`;
    const result = await downloadBatch.executeWithOptions({ ...options, summary }, [
      {
        crawl: input.crawl,
        source: input.source,
        storageRoot: input.storageRoot,
        keysPath: input.keysPath,
        listId: input.listId,
        batch,
        batchSize: settings.filesPerActivity,
        parallelFiles: controls.parallelFiles,
        maxRequestsPerSecond: controls.maxRequestsPerSecond,
        retry: {
          maxTransientAttempts: settings.maxTransientAttemptsPerFile,
          maxCorruptAttempts: settings.maxCorruptAttemptsPerFile,
          // Absent from settings recorded before these existed: such runs keep their old behaviour.
          ...(settings.maxAttemptsPerFile ? { maxAttemptsPerFile: settings.maxAttemptsPerFile } : {}),
          ...(settings.requestTimeoutSeconds
            ? { requestTimeoutMs: settings.requestTimeoutSeconds * 1000 }
            : {}),
          baseDelayMs: settings.retryBaseDelayMs,
          maxDelayMs: settings.retryMaxDelayMs,
        },
      },
    ]);
    totals = addTotals(totals, result);
    Object.assign(progress, totals, { batchesDone: batch + 1, rate: result.rate });
  }

  await untilResumed(controls);
  const final = await finalizeCrawlInventory.executeWithOptions(
    { ...options, summary: `inventory of ${input.crawl}` },
    [
      {
        crawl: input.crawl,
        storageRoot: input.storageRoot,
        listId: input.listId,
        batchSize: settings.filesPerActivity,
        batches,
        expectedFiles: input.files,
      },
    ],
  );
  return {
    crawl: input.crawl,
    ...totals,
    inventory: final.inventory,
    quarantinedReasons: final.quarantinedReasons,
    workflowRuns: cursor.runs,
  };
}
