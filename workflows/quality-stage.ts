/**
 * Step 3 (appendix A, step 1): extract documents from the downloaded WET files, ingest the
 * reference corpora, train the logistic-regression classifier (reference corpora positive, raw
 * Common Crawl negative) and keep Common Crawl documents by the Pareto rule.
 *
 * Extraction is one committed job per crawl, so a failure in one crawl redoes that crawl only.
 */
import { REFERENCE_CORPORA, type Config, type ReferenceCorpusName } from '../config/schema';
import { mapWithConcurrency } from '../core/concurrency';
import type { BuildMixtureProgress } from './progress';
import { sparkStageRunner, type StageOutcome } from './spark-stage';

export interface QualitySummary {
  /** One extraction per crawl. */
  extract: Record<string, StageOutcome>;
  references: Record<ReferenceCorpusName, StageOutcome>;
  classifier: StageOutcome;
  filter: StageOutcome;
}

export async function qualityStage(
  config: Config,
  /** Each crawl with files to extract, and its inventory (the one its download child wrote). */
  downloaded: readonly { crawl: string; inventory: string }[],
  progress: BuildMixtureProgress,
  enter: (stage: 'extract' | 'classify') => void,
): Promise<QualitySummary> {
  const run = sparkStageRunner(config, progress);

  enter('extract');
  const limit = config.spark.maxConcurrentJobs;
  // Every crawl runs to its end even when another fails, so a re-run redoes the failed ones only.
  const failures: unknown[] = [];
  const downloadedCrawls = downloaded.map((d) => d.crawl);
  const settled = await mapWithConcurrency(downloaded, limit, ({ crawl, inventory }) =>
    run({
      job: 'extract',
      stage: `extract-${crawl}`,
      // The inventory, not the folder: only the files this run chose and verified.
      inputs: [{ flag: '--input', paths: [inventory], base: 'storage' }],
      params: { max_document_chars: config.extract.maxDocumentChars },
    }).catch((error: unknown) => {
      failures.push(error);
      return null;
    }),
  );
  if (failures.length > 0) throw failures[0];
  const extracted = settled.filter((e): e is StageOutcome => e !== null);
  const extract = Object.fromEntries(
    downloadedCrawls.map((crawl, i) => [crawl, extracted[i] as StageOutcome]),
  );
  const crawlOutputs = extracted.map((e) => e.output);
  const ingested = await mapWithConcurrency(REFERENCE_CORPORA, limit, (name) => {
    const corpus = config.referenceCorpora[name];
    return run({
      job: 'ingest_reference',
      stage: `reference-${name}`,
      inputs: [{ flag: '--input', paths: [corpus.path], base: 'cwd' }],
      params: { dataset: name, format: corpus.format, max_document_chars: config.extract.maxDocumentChars },
    });
  });
  const references = Object.fromEntries(
    REFERENCE_CORPORA.map((name, i) => [name, ingested[i] as StageOutcome]),
  ) as Record<ReferenceCorpusName, StageOutcome>;

  enter('classify');
  const c = config.classifier;
  const classifier = await run({
    job: 'train_classifier',
    stage: 'train-classifier',
    inputs: [
      { flag: '--positives', paths: Object.values(references).map((r) => r.output), base: 'storage' },
      { flag: '--negatives', paths: crawlOutputs, base: 'storage' },
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
      { flag: '--input', paths: crawlOutputs, base: 'storage' },
    ],
    params: { alpha: config.pareto.alpha, seed: config.seed },
  });
  return { extract, references, classifier, filter };
}
