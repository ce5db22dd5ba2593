/**
 * One Spark job as a committed stage of buildMixture: submits it through the `runSparkJob`
 * activity and keeps the `progress` query's view of it current.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { Config } from '../config/schema';
import type { SparkJobInput, SparkJobResult } from '../core/spark/submit';
import { SPARK_OPTIONS } from './activity-options';
import { untilResumed } from './controls';
import type { BuildMixtureProgress } from './progress';

const { runSparkJob } = proxyActivities<typeof activities>(SPARK_OPTIONS);

export interface StageOutcome {
  output: string;
  /** The last part of `spark/<stage>/<fingerprint>`: what names the committed output. */
  fingerprint: string;
  skipped: boolean;
  rowsIn: number;
  rowsKept: number;
  droppedByReason: Record<string, number>;
  extra: Record<string, unknown>;
  /** Where the job ran (`job server …` or `spark-submit`); absent when skipped. */
  ranOn?: string;
}

export type SparkStageInput = Omit<SparkJobInput, 'storageRoot' | 'spark' | 'runId'>;

function outcome(result: SparkJobResult): StageOutcome {
  const m = result.metrics;
  return {
    output: result.output,
    fingerprint: result.stageDir.split('/').pop() ?? result.stageDir,
    skipped: result.skipped,
    rowsIn: m.rows_in,
    rowsKept: m.rows_kept,
    droppedByReason: m.dropped_by_reason,
    extra: m.extra,
    ...(result.ranOn ? { ranOn: result.ranOn } : {}),
  };
}

/** Runs Spark stages of one run, reporting each in `progress.spark` under its stage name. */
export function sparkStageRunner(
  config: Config,
  progress: BuildMixtureProgress,
): (input: SparkStageInput) => Promise<StageOutcome> {
  return async (input) => {
    // The one place Spark jobs start: a paused run starts none.
    await untilResumed(progress);
    progress.spark[input.stage] = { state: 'running' };
    const job: SparkJobInput = {
      ...input,
      storageRoot: config.storageRoot,
      spark: config.spark,
      runId: config.name,
    };
    // The UI's timeline names the stage (and crawl), not an anonymous runSparkJob.
    const summary = `spark ${input.job}: ${input.stage}`;
    const options = {
      ...SPARK_OPTIONS,
      heartbeatTimeout: `${config.spark.heartbeatTimeoutSeconds} seconds`,
      summary,
    };
    const result = outcome(await runSparkJob.executeWithOptions(options, [job]));
    progress.spark[input.stage] = {
      state: result.skipped ? 'skipped' : 'done',
      rowsIn: result.rowsIn,
      rowsKept: result.rowsKept,
    };
    return result;
  };
}
