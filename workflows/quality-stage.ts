/**
 * Step 3 (appendix A, step 1): extract documents from the downloaded WET files, ingest the
 * reference corpora, train the logistic-regression classifier (reference corpora positive, raw
 * Common Crawl negative) and keep Common Crawl documents by the Pareto rule.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import { REFERENCE_CORPORA, type Config } from '../config/schema';
import type { JobMetrics, SparkJobInput, SparkJobResult } from '../core/spark/submit';
import { SPARK_OPTIONS } from './activity-options';
import type { BuildMixtureProgress } from './progress';

const { runSparkJob } = proxyActivities<typeof activities>(SPARK_OPTIONS);

export interface StageOutcome {
  output: string;
  skipped: boolean;
  rowsIn: number;
  rowsKept: number;
  droppedByReason: Record<string, number>;
  extra: Record<string, unknown>;
}

export interface QualitySummary {
  extract: StageOutcome;
  references: Record<string, StageOutcome>;
  classifier: StageOutcome;
  filter: StageOutcome;
}

function outcome(result: SparkJobResult): StageOutcome {
  const m: JobMetrics = result.metrics;
  return {
    output: result.output,
    skipped: result.skipped,
    rowsIn: m.rows_in,
    rowsKept: m.rows_kept,
    droppedByReason: m.dropped_by_reason,
    extra: m.extra,
  };
}

export async function qualityStage(
  config: Config,
  downloadedCrawls: readonly string[],
  progress: BuildMixtureProgress,
  enter: (stage: 'extract' | 'classify') => void,
): Promise<QualitySummary> {
  const run = async (
    input: Omit<SparkJobInput, 'storageRoot' | 'spark' | 'runId'>,
  ): Promise<StageOutcome> => {
    progress.spark[input.stage] = { state: 'running' };
    const result = outcome(
      await runSparkJob({
        ...input,
        storageRoot: config.storageRoot,
        spark: config.spark,
        runId: config.name,
      }),
    );
    progress.spark[input.stage] = {
      state: result.skipped ? 'skipped' : 'done',
      rowsIn: result.rowsIn,
      rowsKept: result.rowsKept,
    };
    return result;
  };

  enter('extract');
  const extract = await run({
    job: 'extract',
    stage: 'extract',
    // The inventories, not the folders: only the files this run chose and verified.
    inputs: [
      {
        flag: '--input',
        paths: downloadedCrawls.map((crawl) => `raw/${crawl}/inventory.parquet`),
        base: 'storage',
      },
    ],
    params: { max_document_chars: config.extract.maxDocumentChars },
  });
  const references: Record<string, StageOutcome> = {};
  for (const name of REFERENCE_CORPORA) {
    const corpus = config.referenceCorpora[name];
    references[name] = await run({
      job: 'ingest_reference',
      stage: `reference-${name}`,
      inputs: [{ flag: '--input', paths: [corpus.path], base: 'cwd' }],
      params: { dataset: name, format: corpus.format, max_document_chars: config.extract.maxDocumentChars },
    });
  }

  enter('classify');
  const c = config.classifier;
  const classifier = await run({
    job: 'train_classifier',
    stage: 'train-classifier',
    inputs: [
      { flag: '--positives', paths: Object.values(references).map((r) => r.output), base: 'storage' },
      { flag: '--negatives', paths: [extract.output], base: 'storage' },
    ],
    params: {
      num_features: c.numFeatures,
      reg_param: c.regParam,
      max_iter: c.maxIter,
      negatives_per_positive: c.negativesPerPositive,
      max_docs_per_class: c.maxTrainingDocsPerClass,
      holdout_fraction: c.holdoutFraction,
      seed: config.seed,
    },
  });
  const filter = await run({
    job: 'quality_filter',
    stage: 'quality-filter',
    inputs: [
      { flag: '--model', paths: [`${classifier.output}/model`], base: 'storage' },
      { flag: '--input', paths: [extract.output], base: 'storage' },
    ],
    params: { alpha: config.pareto.alpha, seed: config.seed },
  });
  return { extract, references, classifier, filter };
}
