/**
 * Step 3 (appendix A, step 1): extract documents from the downloaded WET files, ingest the
 * reference corpora, train the logistic-regression classifier (reference corpora positive, raw
 * Common Crawl negative) and keep Common Crawl documents by the Pareto rule.
 *
 * Extraction is one committed job per group of neighbouring crawls, up to
 * `extract.maxBytesPerJob` (core/extract-jobs.ts): a failure redoes its job's crawls only, and
 * small crawls do not each pay Spark's fixed cost.
 */
import { patched } from '@temporalio/workflow';
import { REFERENCE_CORPORA, type Config, type ReferenceCorpusName } from '../config/schema';
import { mapWithConcurrency } from '../core/concurrency';
import { extractJobPerCrawl, extractJobs, type DownloadedCrawl, type ExtractJob } from '../core/extract-jobs';
import type { BuildMixtureProgress } from './progress';
import { sparkStageRunner, type StageOutcome } from './spark-stage';

export interface QualitySummary {
  /** One extraction job per group of crawls, by its key: the crawl, or `<first>-to-<last>`. */
  extract: Record<string, StageOutcome>;
  /** The crawls of each extraction job, by the same key (absent in runs from before jobs were grouped). */
  extractCrawls?: Record<string, string[]>;
  references: Record<ReferenceCorpusName, StageOutcome>;
  classifier: StageOutcome;
  filter: StageOutcome;
}

export async function qualityStage(
  config: Config,
  /** Each crawl with files to extract, its inventory (the one its download child wrote) and bytes. */
  downloaded: readonly DownloadedCrawl[],
  progress: BuildMixtureProgress,
  enter: (stage: 'extract' | 'classify') => void,
): Promise<QualitySummary> {
  const run = sparkStageRunner(config, progress);

  enter('extract');
  const limit = config.spark.maxConcurrentJobs;
  // Histories recorded before jobs were grouped replay as they ran: a job per crawl, and the
  // reference corpora only after every crawl.
  const grouped = patched('extract-jobs-by-bytes');
  const jobs = grouped
    ? extractJobs(downloaded, config.extract.maxBytesPerJob)
    : extractJobPerCrawl(downloaded);
  progress.extractJobs = jobs.length;
  const extractJob = ({ key, crawls }: ExtractJob): Promise<StageOutcome> =>
    run({
      job: 'extract',
      stage: `extract-${key}`,
      // The inventories, not the folders: only the files this run chose and verified.
      inputs: [{ flag: '--input', paths: crawls.map((c) => c.inventory), base: 'storage' }],
      params: { max_document_chars: config.extract.maxDocumentChars },
    });
  const ingestReference = (name: ReferenceCorpusName): Promise<StageOutcome> => {
    const corpus = config.referenceCorpora[name];
    return run({
      job: 'ingest_reference',
      stage: `reference-${name}`,
      inputs: [{ flag: '--input', paths: [corpus.path], base: 'cwd' }],
      params: { dataset: name, format: corpus.format, max_document_chars: config.extract.maxDocumentChars },
    });
  };
  // Every job runs to its end even when another fails, so a re-run redoes the failed ones only.
  const failures: unknown[] = [];
  const settle = (job: Promise<StageOutcome>): Promise<StageOutcome | null> =>
    job.catch((error: unknown) => {
      failures.push(error);
      return null;
    });
  let extracted: (StageOutcome | null)[];
  let ingested: (StageOutcome | null)[];
  if (grouped) {
    // The reference corpora do not wait for Common Crawl: all of them share the job slots.
    const tasks = [
      ...jobs.map((job) => () => extractJob(job)),
      ...REFERENCE_CORPORA.map((name) => () => ingestReference(name)),
    ];
    const settled = await mapWithConcurrency(tasks, limit, (task) => settle(task()));
    if (failures.length > 0) throw failures[0];
    extracted = settled.slice(0, jobs.length);
    ingested = settled.slice(jobs.length);
  } else {
    extracted = await mapWithConcurrency(jobs, limit, (job) => settle(extractJob(job)));
    if (failures.length > 0) throw failures[0];
    ingested = await mapWithConcurrency(REFERENCE_CORPORA, limit, ingestReference);
  }
  const extract = Object.fromEntries(jobs.map(({ key }, i) => [key, extracted[i] as StageOutcome]));
  const extractCrawls = Object.fromEntries(jobs.map(({ key, crawls }) => [key, crawls.map((c) => c.crawl)]));
  const crawlOutputs = Object.values(extract).map((e) => e.output);
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
  return { extract, extractCrawls, references, classifier, filter };
}
