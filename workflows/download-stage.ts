/** Step 2: download every discovered crawl in its own child workflow, a bounded number at once. */
import { executeChild, workflowInfo } from '@temporalio/workflow';
import type { Config } from '../config/schema';
import { downloadWorkflowId, RUN_SEARCH_ATTRIBUTE, STAGE_SEARCH_ATTRIBUTE } from '../config/temporal';
import type { DiscoverResult } from '../core/discover';
import { mapWithConcurrency } from '../core/concurrency';
import { downloadCrawl, type DownloadCrawlResult } from './download-crawl';
import type { BuildMixtureProgress } from './progress';

export async function downloadStage(
  config: Config,
  discovered: readonly DiscoverResult[],
  progress: BuildMixtureProgress,
): Promise<DownloadCrawlResult[]> {
  const toDownload = discovered.filter((d) => d.selected > 0);
  progress.download.total = toDownload.length;
  const lanes = Math.max(1, Math.min(config.download.maxConcurrentCrawls, toDownload.length));
  // The global bound on files in flight, split over the crawls downloading at once.
  const parallelFiles = Math.max(1, Math.floor(config.download.maxConcurrentDownloads / lanes));
  return mapWithConcurrency(toDownload, lanes, async (d) => {
    const result = await executeChild(downloadCrawl, {
      workflowId: downloadWorkflowId(workflowInfo().workflowId, d.crawl),
      staticSummary: `download ${d.crawl}: ${d.selected} WET files`,
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
}
