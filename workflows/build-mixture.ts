/**
 * buildMixture: the paper's section 2.2 as a workflow. Each step is a stage whose output is
 * committed under its fingerprint, so a re-run (or a Schedule) skips what is already done.
 *
 *   1. discover the WET files of every configured crawl
 *   2. download them, a child workflow per crawl
 *   3. extract documents, train the quality classifier, keep documents by the Pareto rule
 *   4. fuzzy-dedup, mix Table 2.2 into tokenized rows, report     (not built yet)
 */
import { ApplicationFailure, defineQuery, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { ConfigError, parseConfig, type Config } from '../config/schema';
import { RUN_SEARCH_ATTRIBUTE, STAGE_SEARCH_ATTRIBUTE } from '../config/temporal';
import { discoverStage, sumValues } from './discover-stage';
import { sumDownloads, type DownloadSummary } from './download-crawl';
import { downloadStage } from './download-stage';
import { emptyProgress, type BuildMixtureProgress, type Stage } from './progress';
import { qualityStage, type QualitySummary } from './quality-stage';

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
  /** Absent when the run stops after download (`stopAfter`). */
  quality?: QualitySummary;
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
  const { discovered, crawlsFailed } = await discoverStage(config, progress);

  enter('download');
  const downloads = await downloadStage(config, discovered, progress);

  const quality =
    config.stopAfter === 'download'
      ? undefined
      : await qualityStage(
          config,
          downloads.filter((d) => d.ok > 0).map((d) => d.crawl),
          progress,
          enter,
        );

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
    ...(quality ? { quality } : {}),
  };
}
