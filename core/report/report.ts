/**
 * The run report as data: `report.json` is this object, and the HTML page renders nothing that
 * is not in it. Built from the run's facts and what was read from storage; no I/O here.
 */
import type { CheckResult } from '../mix/verify';
import type { Manifest, ManifestSource } from '../mix/manifest';
import type { RunFacts, RunReportInput, StageFacts, StageTimingFacts } from './facts';
import type { GroundTruthQuality } from './ground-truth';

export const REPORT_VERSION = 1;

export interface QuarantinedFile {
  crawl: string;
  key: string;
  reason: string;
  retries: number;
}

export interface ScoreBucket {
  lo: number;
  hi: number;
  in: number;
  kept: number;
  keepRate: number | null;
  /** Mean of (2 − s)^−α over the bucket's documents: what the Pareto rule should keep. */
  expectedKeepRate: number | null;
}

export interface GroundTruthSection {
  /** The configured folder, or null when the run has none. */
  path: string | null;
  /** Why there are no figures, when there are none. */
  note: string | null;
  figures: GroundTruthQuality | null;
}

export interface DedupDataset {
  dataset: string;
  in: number;
  kept: number;
  removed: number;
  removalRate: number | null;
  clusters: number;
  docsInClusters: number;
  dropped: Record<string, number>;
}

export interface RunReport {
  version: number;
  run: { workflowId: string; name: string; generatedAt: string; storageRoot: string; stopAfter: string };
  discover: Omit<RunFacts, 'download' | 'quality' | 'dedup' | 'mixture' | 'stages' | 'name'>;
  download: RunFacts['download'];
  /** At most `MAX_QUARANTINED_LISTED` files are listed; `total` counts them all. */
  quarantined: { total: number; files: QuarantinedFile[] };
  stages: StageTimingFacts[];
  quality: {
    alpha: number;
    documentsIn: number;
    documentsKept: number;
    droppedByReason: Record<string, number>;
    scoreBuckets: ScoreBucket[];
    /** P(keep | score) = (2 − s)^−α, sampled on [0, 1]. */
    keepCurve: { score: number; keep: number }[];
    perCrawl: { crawl: string; in: number; kept: number }[];
    classifier: {
      holdoutAuc: number | null;
      precisionAt05: number | null;
      recallAt05: number | null;
      f1At05: number | null;
      trainDocuments: number;
      holdoutDocuments: number;
    };
    references: { dataset: string; documents: number }[];
    groundTruth: GroundTruthSection;
  } | null;
  dedup: {
    rowsIn: number;
    rowsKept: number;
    droppedByReason: Record<string, number>;
    candidatePairs: number | null;
    verifiedPairs: number | null;
    clusterSizes: { lo: number; hi: number; clusters: number }[];
    perDataset: DedupDataset[];
  } | null;
  mixture: {
    manifest: string | null;
    rows: number;
    tokens: number;
    nCtx: number;
    totalTokens: number | null;
    files: number;
    verified: boolean;
    checks: CheckResult[];
    sources: ManifestSource[];
  } | null;
}

export const MAX_QUARANTINED_LISTED = 500;

/** What was read from storage for the report (load.ts). */
export interface ReportReadings {
  generatedAt: string;
  /** The manifest and where it is; null if the run did not mix. */
  manifest: { uri: string; manifest: Manifest } | null;
  /** The dedup stage's `cluster_size` distribution (clusters of two or more, by size bucket). */
  clusterSizes: { lo: number; hi: number; count: number }[];
  quarantined: QuarantinedFile[];
  groundTruth: GroundTruthSection;
}

const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);
const obj = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
const sumOf = (value: unknown): number =>
  Object.values(obj(value)).reduce<number>((n, v) => n + (num(v) ?? 0), 0);

function qualitySection(
  quality: NonNullable<RunFacts['quality']>,
  alpha: number,
  groundTruth: GroundTruthSection,
): NonNullable<RunReport['quality']> {
  const { filter, classifier } = quality;
  const buckets = Array.isArray(filter.extra.keep_rate_by_score_bucket)
    ? (filter.extra.keep_rate_by_score_bucket as unknown[]).map(obj)
    : [];
  const c = classifier.extra;
  return {
    alpha,
    documentsIn: filter.rowsIn,
    documentsKept: filter.rowsKept,
    droppedByReason: filter.droppedByReason,
    scoreBuckets: buckets.map((b) => ({
      lo: num(b.lo) ?? 0,
      hi: num(b.hi) ?? 0,
      in: num(b.in) ?? 0,
      kept: num(b.kept) ?? 0,
      keepRate: num(b.keep_rate),
      expectedKeepRate: num(b.expected_keep_rate),
    })),
    keepCurve: Array.from({ length: 101 }, (_, i) => ({ score: i / 100, keep: (2 - i / 100) ** -alpha })),
    perCrawl: Object.entries(obj(filter.extra.per_crawl)).map(([crawl, v]) => ({
      crawl,
      in: num(obj(v).in) ?? 0,
      kept: num(obj(v).kept) ?? 0,
    })),
    classifier: {
      holdoutAuc: num(c.holdout_auc),
      precisionAt05: num(c.precision_at_0_5),
      recallAt05: num(c.recall_at_0_5),
      f1At05: num(c.f1_at_0_5),
      trainDocuments: sumOf(c.train),
      holdoutDocuments: sumOf(c.holdout),
    },
    references: Object.entries(quality.references).map(([dataset, r]) => ({
      dataset,
      documents: r.rowsKept,
    })),
    groundTruth,
  };
}

function dedupSection(
  dedup: StageFacts,
  clusterSizes: ReportReadings['clusterSizes'],
): NonNullable<RunReport['dedup']> {
  const perDataset = Object.entries(obj(dedup.extra.per_dataset)).map(([dataset, raw]): DedupDataset => {
    const d = obj(raw);
    const input = num(d.in) ?? 0;
    const kept = num(d.kept) ?? 0;
    return {
      dataset,
      in: input,
      kept,
      removed: input - kept,
      removalRate: input > 0 ? (input - kept) / input : null,
      clusters: num(d.clusters) ?? 0,
      docsInClusters: num(d.docs_in_clusters) ?? 0,
      dropped: obj(d.dropped) as Record<string, number>,
    };
  });
  return {
    rowsIn: dedup.rowsIn,
    rowsKept: dedup.rowsKept,
    droppedByReason: dedup.droppedByReason,
    candidatePairs: num(dedup.extra.candidate_pairs),
    verifiedPairs: num(dedup.extra.verified_pairs),
    clusterSizes: clusterSizes.map((b) => ({ lo: b.lo, hi: b.hi, clusters: b.count })),
    perDataset,
  };
}

function mixtureSection(run: RunFacts, readings: ReportReadings): RunReport['mixture'] {
  const m = readings.manifest?.manifest;
  if (m) {
    return {
      manifest: readings.manifest?.uri ?? null,
      rows: m.rows,
      tokens: m.rows * m.nCtx,
      nCtx: m.nCtx,
      totalTokens: m.totalTokens,
      files: m.files.length,
      verified: m.verification.ok,
      checks: m.verification.checks,
      sources: m.sources,
    };
  }
  const s = run.mixture;
  if (!s) return null;
  // The summary the workflow kept, when the manifest cannot be read.
  return {
    manifest: s.manifest,
    rows: s.rows,
    tokens: s.tokens,
    nCtx: s.rows > 0 ? s.tokens / s.rows : 0,
    totalTokens: null,
    files: s.files,
    verified: s.checks.every((c) => c.ok),
    checks: s.checks,
    sources: s.sources,
  };
}

export function buildRunReport(input: RunReportInput, readings: ReportReadings): RunReport {
  const { run } = input;
  return {
    version: REPORT_VERSION,
    run: {
      workflowId: input.workflowId,
      name: run.name,
      generatedAt: readings.generatedAt,
      storageRoot: input.storageRoot,
      stopAfter: input.stopAfter,
    },
    discover: {
      crawls: run.crawls,
      wetFilesListed: run.wetFilesListed,
      wetFilesSelected: run.wetFilesSelected,
      keysRejected: run.keysRejected,
      discoverSkipped: run.discoverSkipped,
      crawlsFailed: run.crawlsFailed,
    },
    download: run.download,
    quarantined: {
      total: readings.quarantined.length,
      files: readings.quarantined.slice(0, MAX_QUARANTINED_LISTED),
    },
    stages: run.stages,
    quality: run.quality ? qualitySection(run.quality, input.alpha, readings.groundTruth) : null,
    dedup: run.dedup ? dedupSection(run.dedup, readings.clusterSizes) : null,
    mixture: mixtureSection(run, readings),
  };
}
