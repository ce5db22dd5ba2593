/**
 * Step 2: download every discovered crawl in its own child workflow, a bounded number at once.
 * Each child starts with the run's current controls (paused, its share of the limits) and hears
 * of every change while it runs.
 */
import { patched, startChild, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Config } from '../config/schema';
import {
  CRAWLS_DONE_SEARCH_ATTRIBUTE,
  downloadWorkflowId,
  RUN_SEARCH_ATTRIBUTE,
  STAGE_SEARCH_ATTRIBUTE,
} from '../config/temporal';
import type { DiscoverResult } from '../core/discover';
import { mapWithConcurrency } from '../core/concurrency';
import { untilResumed, type RunControls } from './controls';
import { downloadCrawl, type DownloadCrawlResult } from './download-crawl';
import type { BuildMixtureProgress } from './progress';

export async function downloadStage(
  config: Config,
  discovered: readonly DiscoverResult[],
  progress: BuildMixtureProgress,
  controls: RunControls,
): Promise<DownloadCrawlResult[]> {
  const toDownload = discovered.filter((d) => d.selected > 0);
  progress.download.total = toDownload.length;
  const lanes = Math.max(1, Math.min(config.download.maxConcurrentCrawls, toDownload.length));
  // The global bound on files in flight, split over the crawls downloading at once.
  controls.splitDownloadsOver(lanes);
  try {
    return await downloadEach(config, toDownload, lanes, progress, controls);
  } finally {
    controls.splitDownloadsOver(1); // downloads done: a limit no longer splits
  }
}

function downloadEach(
  config: Config,
  toDownload: readonly DiscoverResult[],
  lanes: number,
  progress: BuildMixtureProgress,
  controls: RunControls,
): Promise<DownloadCrawlResult[]> {
  return mapWithConcurrency(toDownload, lanes, async (d) => {
    await untilResumed(progress);
    const workflowId = downloadWorkflowId(workflowInfo().workflowId, d.crawl);
    const sent = controls.forChild();
    const child = await startChild(downloadCrawl, {
      workflowId,
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
          parallelFiles: sent.parallelFiles,
          controls: sent,
        },
      ],
      typedSearchAttributes: [
        { key: RUN_SEARCH_ATTRIBUTE, value: config.name },
        { key: STAGE_SEARCH_ATTRIBUTE, value: 'download' },
      ],
    });
    let result: DownloadCrawlResult;
    try {
      await controls.childStarted(workflowId, sent);
      result = await child.result();
    } finally {
      controls.childEnded(workflowId);
    }
    progress.download.done += 1;
    // Runs recorded before this attribute existed replay without the extra command.
    if (patched('crawls-done-search-attribute')) {
      upsertSearchAttributes([{ key: CRAWLS_DONE_SEARCH_ATTRIBUTE, value: progress.download.done }]);
    }
    const crawlProgress = progress.crawls[d.crawl];
    if (crawlProgress)
      crawlProgress.download = { ok: result.ok, quarantined: result.quarantined, bytes: result.bytes };
    return result;
  });
}
