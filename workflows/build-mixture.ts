/**
 * buildMixture: the paper's section 2.2 as a workflow. Each step is a stage whose output is
 * committed under its fingerprint, so a re-run skips what is already done.
 *
 *   1. discover the WET files of every crawl
 *   2. download them, a child workflow per crawl
 *   3. extract, classify, keep by the Pareto rule      (later)
 *   4. fuzzy-dedup, mix Table 2.2 into tokenized rows (later)
 */
import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  executeChild,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import { ConfigError, parseConfig, type Config } from '../config/schema';
import {
  downloadWorkflowId,
  NON_RETRYABLE_ERRORS,
  RUN_SEARCH_ATTRIBUTE,
  STAGE_SEARCH_ATTRIBUTE,
} from '../config/temporal';
import { mapWithConcurrency } from './concurrency';
import {
  downloadCrawl,
  sumDownloads,
  type DownloadCrawlResult,
  type DownloadSummary,
} from './download-crawl';
import { emptyProgress, type BuildMixtureProgress, type Stage } from './progress';

const { discoverCrawl } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    // A throttling source can refuse the paths list for minutes; keep asking, politely.
    maximumAttempts: 30,
    nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
  },
});

export const progressQuery = defineQuery<BuildMixtureProgress>('progress');

export interface BuildMixtureResult {
  name: string;
  crawls: number;
  wetFilesListed: number;
  wetFilesSelected: number;
  keysRejected: number;
  discoverSkipped: number;
  /** Crawls whose paths list could not be read (404/403), with the reason. */
  crawlsFailed: { crawl: string; reason: string }[];
  download: DownloadSummary;
}

function validate(input: unknown): Config {
  try {
    return parseConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw ApplicationFailure.create({
        message: error.message,
        type: 'InvalidConfig',
        nonRetryable: true,
        details: [error.issues],
      });
    }
    throw error;
  }
}

export async function buildMixture(input: unknown): Promise<BuildMixtureResult> {
  const progress = emptyProgress();
  setHandler(progressQuery, () => progress);
  const config = validate(input);
  const enter = (stage: Stage): void => {
    progress.stage = stage;
    upsertSearchAttributes([{ key: STAGE_SEARCH_ATTRIBUTE, value: stage }]);
  };
  upsertSearchAttributes([{ key: RUN_SEARCH_ATTRIBUTE, value: config.name }]);

  enter('discover');
  progress.discover.total = config.crawls.length;
  const crawlsFailed: BuildMixtureResult['crawlsFailed'] = [];
  const outcomes = await mapWithConcurrency(
    config.crawls,
    config.download.maxConcurrentCrawls,
    async (crawl) => {
      try {
        const result = await discoverCrawl({
          source: config.source,
          crawl,
          selection: config.wetFilesPerCrawl,
          seed: config.seed,
          storageRoot: config.storageRoot,
        });
        progress.crawls[crawl] = {
          wetFilesSelected: result.selected,
          keysRejected: sumValues(result.rejected),
        };
        return result;
      } catch (error) {
        // A crawl whose listing is missing is reported, and the other crawls go on.
        if (error instanceof ActivityFailure && error.cause instanceof ApplicationFailure) {
          if (error.cause.type === 'SourceObjectMissing') {
            crawlsFailed.push({ crawl, reason: error.cause.message });
            progress.crawls[crawl] = { wetFilesSelected: 0, keysRejected: 0, failed: error.cause.message };
            return null;
          }
        }
        throw error;
      } finally {
        progress.discover.done += 1;
      }
    },
  );
  const discovered = outcomes.filter((r) => r !== null);

  enter('download');
  const toDownload = discovered.filter((d) => d.selected > 0);
  progress.download.total = toDownload.length;
  const lanes = Math.max(1, Math.min(config.download.maxConcurrentCrawls, toDownload.length));
  const parallelFiles = Math.max(1, Math.floor(config.download.maxConcurrentDownloads / lanes));
  const downloads = await mapWithConcurrency(toDownload, lanes, async (d): Promise<DownloadCrawlResult> => {
    const result = await executeChild(downloadCrawl, {
      workflowId: downloadWorkflowId(workflowInfo().workflowId, d.crawl),
      args: [
        {
          crawl: d.crawl,
          source: config.source,
          storageRoot: config.storageRoot,
          keysPath: d.keysPath,
          listId: d.listId,
          files: d.selected,
          settings: config.download,
          parallelFiles,
        },
      ],
      typedSearchAttributes: [
        { key: RUN_SEARCH_ATTRIBUTE, value: config.name },
        { key: STAGE_SEARCH_ATTRIBUTE, value: 'download' },
      ],
    });
    progress.download.done += 1;
    const crawlProgress = progress.crawls[d.crawl];
    if (crawlProgress)
      crawlProgress.download = { ok: result.ok, quarantined: result.quarantined, bytes: result.bytes };
    return result;
  });

  enter('done');
  return {
    name: config.name,
    crawls: discovered.length,
    wetFilesListed: discovered.reduce((n, r) => n + r.listed, 0),
    wetFilesSelected: discovered.reduce((n, r) => n + r.selected, 0),
    keysRejected: discovered.reduce((n, r) => n + sumValues(r.rejected), 0),
    discoverSkipped: discovered.filter((r) => r.skipped).length,
    crawlsFailed,
    download: sumDownloads(downloads),
  };
}

function sumValues(record: Partial<Record<string, number>>): number {
  return Object.values(record).reduce<number>((n, v) => n + (v ?? 0), 0);
}
