/**
 * buildMixture: the paper's section 2.2 as a workflow. Each step is a stage whose output is
 * committed under its fingerprint, so a re-run (or a Schedule) skips what is already done.
 *
 *   1. discover the WET files of every configured crawl
 *   2. download them, a child workflow per crawl
 *   3. extract documents, train the quality classifier, keep documents by the Pareto rule
 *   4. fuzzy-dedup within every dataset, and Common Crawl against WebText2
 *   5. mix Table 2.2 into tokenized 2048-id rows, verify them, write the manifest
 *
 * `stopAfter` ends the run early (download, classify, dedup); by default it runs to the manifest.
 */
import {
  ApplicationFailure,
  defineQuery,
  patched,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { ConfigError, parseConfig, type Config } from '../config/schema';
import { RUN_SEARCH_ATTRIBUTE, STAGE_SEARCH_ATTRIBUTE } from '../config/temporal';
import { RunControls, untilResumed } from './controls';
import { discoverStage, sumValues } from './discover-stage';
import { inventoryOf, sumDownloads, type DownloadSummary } from './download-crawl';
import { downloadStage } from './download-stage';
import {
  emptyProgress,
  enterStage,
  type BuildMixtureProgress,
  type Stage,
  type StageTiming,
} from './progress';
import { dedupStage, DEDUP_STAGE } from './dedup-stage';
import { mixStage } from './mix-stage';
import { qualityStage, type QualitySummary } from './quality-stage';
import { reportStage } from './report-stage';
import type { StageOutcome } from './spark-stage';
import type { MixtureSummary } from '../core/mix/finish';
import type { RunReportFiles } from '../core/report/facts';

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
  /** Each absent when the run stops before it (`stopAfter`). */
  quality?: QualitySummary;
  dedup?: StageOutcome;
  mixture?: MixtureSummary;
  /** Each stage's start, end and duration. */
  stages: StageTiming[];
  /** `reports/<workflowId>/report.json` and `report.html` (absent in runs from before the report). */
  report?: RunReportFiles;
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
  const { maxConcurrentDownloads, maxRequestsPerSecond } = config.download;
  progress.limits = { maxConcurrentDownloads, maxRequestsPerSecond };
  // pause, resume and setDownloadLimits: each next activity (here, in children, in Spark stages) waits while paused.
  const controls = new RunControls(progress);
  const enter = (stage: Stage): void => {
    enterStage(progress, stage, new Date());
    upsertSearchAttributes([{ key: STAGE_SEARCH_ATTRIBUTE, value: stage }]);
  };
  upsertSearchAttributes([{ key: RUN_SEARCH_ATTRIBUTE, value: config.name }]);

  enter('discover');
  const { discovered, crawlsFailed } = await discoverStage(config, progress);

  await untilResumed(progress);
  enter('download');
  const downloads = await downloadStage(config, discovered, progress, controls);

  const stopsAfter = (stage: Config['stopAfter']): boolean => config.stopAfter === stage;
  const quality = stopsAfter('download')
    ? undefined
    : await qualityStage(
        config,
        // An old recorded child result may lack its inventory: inventoryOf falls back to where it was.
        downloads
          .filter((d) => d.ok > 0)
          .map((d) => ({ crawl: d.crawl, inventory: inventoryOf(d), bytes: d.bytes })),
        progress,
        enter,
      );

  let dedup: StageOutcome | undefined;
  if (quality && !stopsAfter('classify')) {
    await untilResumed(progress);
    enter('dedup');
    dedup = await dedupStage(config, quality, progress);
  }

  const mixture =
    quality && dedup && stopsAfter('mix')
      ? await mixStage(config, dedup, stageFingerprints(quality, dedup), progress, enter)
      : undefined;

  const result: BuildMixtureResult = {
    name: config.name,
    crawls: discovered.length,
    wetFilesListed: discovered.reduce((n, r) => n + r.listed, 0),
    wetFilesSelected: discovered.reduce((n, r) => n + r.selected, 0),
    keysRejected: discovered.reduce((n, r) => n + sumValues(r.rejected), 0),
    discoverSkipped: discovered.filter((r) => r.skipped).length,
    crawlsFailed,
    download: sumDownloads(downloads),
    ...(quality ? { quality } : {}),
    ...(dedup ? { dedup } : {}),
    ...(mixture ? { mixture: mixture.summary } : {}),
    stages: progress.stages,
  };
  // Histories recorded before the report existed replay without it.
  if (patched('run-report')) {
    if (progress.stage !== 'report') enter('report');
    result.report = await reportStage(config, result, progress, {
      downloadedCrawls: downloads.map((d) => d.crawl),
      ...(mixture ? { mixOutput: mixture.mix.output } : {}),
    });
  }
  enter('done');
  return result;
}

/** Stage name -> fingerprint of every committed Spark stage upstream of the mixture. */
function stageFingerprints(quality: QualitySummary, dedup: StageOutcome): Record<string, string> {
  return {
    ...Object.fromEntries(
      Object.entries(quality.extract).map(([key, o]) => [`extract-${key}`, o.fingerprint]),
    ),
    ...Object.fromEntries(
      Object.entries(quality.references).map(([name, o]) => [`reference-${name}`, o.fingerprint]),
    ),
    'train-classifier': quality.classifier.fingerprint,
    'quality-filter': quality.filter.fingerprint,
    [DEDUP_STAGE]: dedup.fingerprint,
  };
}
