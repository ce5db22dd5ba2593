/**
 * Step 1: discover every crawl's WET files. A crawl whose listing is missing is reported; the rest
 * go on. A paused run starts no next discovery until it is resumed.
 */
import { ActivityFailure, ApplicationFailure, patched, proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { Config } from '../config/schema';
import type { DiscoverResult } from '../core/discover';
import { DISCOVER_OPTIONS } from './activity-options';
import { mapWithConcurrency } from '../core/concurrency';
import { untilResumed } from './controls';
import type { BuildMixtureProgress } from './progress';

const { discoverCrawl } = proxyActivities<typeof activities>(DISCOVER_OPTIONS);

export interface DiscoverSummary {
  discovered: (DiscoverResult & { skipped: boolean })[];
  crawlsFailed: { crawl: string; reason: string }[];
}

export function sumValues(record: Partial<Record<string, number>>): number {
  return Object.values(record).reduce<number>((n, v) => n + (v ?? 0), 0);
}

export async function discoverStage(
  config: Config,
  progress: BuildMixtureProgress,
): Promise<DiscoverSummary> {
  progress.discover.total = config.crawls.length;
  const crawlsFailed: DiscoverSummary['crawlsFailed'] = [];
  const outcomes = await mapWithConcurrency(
    config.crawls,
    config.download.maxConcurrentCrawls,
    async (crawl) => {
      // Runs recorded before discovery honoured pause scheduled every discovery regardless.
      if (patched('pause-between-discoveries')) await untilResumed(progress);
      try {
        const result = await discoverCrawl.executeWithOptions(
          { ...DISCOVER_OPTIONS, summary: `discover ${crawl}` },
          [
            {
              source: config.source,
              crawl,
              selection: config.wetFilesPerCrawl,
              seed: config.seed,
              storageRoot: config.storageRoot,
            },
          ],
        );
        progress.crawls[crawl] = {
          wetFilesSelected: result.selected,
          keysRejected: sumValues(result.rejected),
        };
        return result;
      } catch (error) {
        if (
          error instanceof ActivityFailure &&
          error.cause instanceof ApplicationFailure &&
          // A missing, unreadable or empty wet.paths.gz fails its crawl only, with the reason.
          (error.cause.type === 'SourceObjectMissing' || error.cause.type === 'BadPathsList')
        ) {
          crawlsFailed.push({ crawl, reason: error.cause.message });
          progress.crawls[crawl] = { wetFilesSelected: 0, keysRejected: 0, failed: error.cause.message };
          return null;
        }
        throw error;
      } finally {
        progress.discover.done += 1;
      }
    },
  );
  return { discovered: outcomes.filter((r) => r !== null), crawlsFailed };
}
