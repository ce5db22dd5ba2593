/** What the `progress` query returns; the CLI's status view renders it. */
export type Stage =
  'validate' | 'discover' | 'download' | 'extract' | 'classify' | 'dedup' | 'mix' | 'report' | 'done';

export interface CrawlProgress {
  wetFilesSelected: number;
  keysRejected: number;
  failed?: string;
  download?: { ok: number; quarantined: number; bytes: number };
}

export interface BuildMixtureProgress {
  stage: Stage;
  discover: { done: number; total: number };
  /** Crawls whose download child has finished; live per-crawl progress is the child's query. */
  download: { done: number; total: number };
  crawls: Record<string, CrawlProgress>;
  /** Spark stages by name (extract, reference-…, train-classifier, quality-filter). */
  spark: Record<string, SparkStageProgress>;
}

export interface SparkStageProgress {
  state: 'running' | 'done' | 'skipped';
  rowsIn?: number;
  rowsKept?: number;
}

export function emptyProgress(): BuildMixtureProgress {
  return {
    stage: 'validate',
    discover: { done: 0, total: 0 },
    download: { done: 0, total: 0 },
    crawls: {},
    spark: {},
  };
}
