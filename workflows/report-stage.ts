/**
 * The last step: the run report (core/report), a JSON file and one self-contained HTML page
 * under `reports/<workflowId>/`. It covers whatever ran, also when `stopAfter` ended the run
 * early. The workflow passes counts, paths and the stages' metric summaries only; the activity
 * reads the rest (manifest, inventories, dedup metrics, ground truth) from storage.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { Config } from '../config/schema';
import type { RunFacts, RunReportFiles } from '../core/report/facts';
import { MIX_OPTIONS } from './activity-options';
import type { BuildMixtureResult } from './build-mixture';
import { untilResumed } from './controls';
import type { BuildMixtureProgress } from './progress';

// Local work on the worker like the manifest: the same timeouts and retries.
const { writeRunReport } = proxyActivities<typeof activities>(MIX_OPTIONS);

/** The result without the per-crawl extractions (the filter's metrics count documents per crawl). */
function runFacts(result: BuildMixtureResult): RunFacts {
  const { quality, ...rest } = result;
  if (!quality) return rest;
  const { references, classifier, filter } = quality;
  return { ...rest, quality: { references, classifier, filter } };
}

export async function reportStage(
  config: Config,
  result: BuildMixtureResult,
  progress: BuildMixtureProgress,
  where: { downloadedCrawls: string[]; mixOutput?: string },
): Promise<RunReportFiles> {
  await untilResumed(progress);
  const groundTruth = config.report?.groundTruth;
  return writeRunReport.executeWithOptions({ ...MIX_OPTIONS, summary: 'write the run report' }, [
    {
      storageRoot: config.storageRoot,
      workflowId: workflowInfo().workflowId,
      run: runFacts(result),
      ...where,
      alpha: config.pareto.alpha,
      stopAfter: config.stopAfter,
      ...(groundTruth ? { groundTruth } : {}),
    },
  ]);
}
