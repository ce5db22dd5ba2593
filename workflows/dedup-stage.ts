/**
 * Step 4 (appendix A, step 2): fuzzy dedup with MinHashLSH (10 hashes, the classifier's
 * features) within every dataset, then Common Crawl documents near WebText2 removed.
 *
 * Datasets carry their Table 2.2 names from here on: the dedup output has one folder per name,
 * and the mixture reads them by the same names.
 */
import { REFERENCE_CORPORA, type Config } from '../config/schema';
import type { MixSource } from '../core/mix/plan';
import type { BuildMixtureProgress } from './progress';
import type { QualitySummary } from './quality-stage';
import { sparkStageRunner, type StageOutcome } from './spark-stage';

export const DEDUP_STAGE = 'dedup';

const SURVIVOR = { minId: 'min_id', maxScore: 'max_score' } as const;

export async function dedupStage(
  config: Config,
  quality: QualitySummary,
  progress: BuildMixtureProgress,
): Promise<StageOutcome> {
  const d = config.dedup;
  const datasets: [MixSource, string][] = [
    ['commonCrawl', quality.filter.output],
    ...REFERENCE_CORPORA.map((name): [MixSource, string] => [name, quality.references[name].output]),
  ];
  return sparkStageRunner(
    config,
    progress,
  )({
    job: 'dedup',
    stage: DEDUP_STAGE,
    inputs: datasets.map(([dataset, output]) => ({
      flag: '--input-dataset',
      dataset,
      paths: [output],
      base: 'storage',
    })),
    params: {
      num_hashes: d.numHashes,
      bands: d.bands,
      jaccard_threshold: d.jaccardThreshold,
      strategy: d.strategy,
      survivor: SURVIVOR[d.survivor],
      seed: config.seed,
      // "the same features as were used for classification"
      num_features: config.classifier.numFeatures,
      cross_from: 'commonCrawl',
      cross_against: 'webtext2',
    },
  });
}

/** The deduped documents of one dataset inside the dedup stage's output. */
export const dedupedDocuments = (dedup: StageOutcome, dataset: MixSource): string =>
  `${dedup.output}/${dataset}`;
