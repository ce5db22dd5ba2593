/**
 * What the report is made from. The workflow passes what only it knows (counts, stage timings,
 * the stages' outputs and metrics summaries); the rest is read from storage: the dedup metrics
 * (cluster sizes), the manifest, the download inventories and, for the miniature crawl, its
 * ground truth.
 *
 * These types mirror buildMixture's result structurally, so core does not import workflows.
 */
import type { MixtureSummary } from '../mix/finish';

/** One committed Spark stage as the workflow saw it (workflows/spark-stage.ts, StageOutcome). */
export interface StageFacts {
  /** Storage-relative folder of its output, inside `spark/<stage>/<fingerprint>/`. */
  output: string;
  fingerprint: string;
  skipped: boolean;
  rowsIn: number;
  rowsKept: number;
  droppedByReason: Record<string, number>;
  extra: Record<string, unknown>;
  ranOn?: string;
}

export interface StageTimingFacts {
  stage: string;
  startedAt: string;
  endedAt?: string;
  seconds?: number;
}

export interface RunFacts {
  name: string;
  crawls: number;
  wetFilesListed: number;
  wetFilesSelected: number;
  keysRejected: number;
  discoverSkipped: number;
  crawlsFailed: { crawl: string; reason: string }[];
  download: {
    files: number;
    ok: number;
    quarantined: number;
    bytes: number;
    retries: number;
    quarantinedReasons: Record<string, number>;
    /** Each crawl's inventory (absent in runs from before inventories were named by selection). */
    inventories?: Record<string, string>;
  };
  /** Without the per-crawl extractions: the filter's metrics count documents per crawl. */
  quality?: { references: Record<string, StageFacts>; classifier: StageFacts; filter: StageFacts };
  dedup?: StageFacts;
  mixture?: MixtureSummary;
  stages: StageTimingFacts[];
}

export interface RunReportInput {
  storageRoot: string;
  workflowId: string;
  run: RunFacts;
  /** Crawls whose inventory (`run.download.inventories`, else the legacy name) lists the quarantined files. */
  downloadedCrawls: string[];
  /** Storage-relative folder of the committed mix output (its manifest.json inside). */
  mixOutput?: string;
  alpha: number;
  stopAfter: string;
  /** The miniature crawl's `ground-truth/` folder (local), when the run is on one. */
  groundTruth?: string;
}

/** Where the report was written: absolute paths on a local root, s3:// URIs on S3. */
export interface RunReportFiles {
  json: string;
  html: string;
}
