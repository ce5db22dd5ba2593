/** What the `progress` query returns; the CLI's status view renders it. */
import type { RunControlState } from './controls';

export type Stage =
  | 'validate'
  | 'discover'
  | 'download'
  | 'extract'
  | 'classify'
  | 'dedup'
  | 'mix'
  | 'verify'
  | 'report'
  | 'done';

export interface CrawlProgress {
  wetFilesSelected: number;
  keysRejected: number;
  failed?: string;
  download?: { ok: number; quarantined: number; bytes: number };
}

/** `paused` and `limits` are the operator's controls (workflows/controls.ts), as the run obeys them. */
export interface BuildMixtureProgress extends RunControlState {
  stage: Stage;
  discover: { done: number; total: number };
  /** Crawls whose download child has finished; live per-crawl progress is the child's query. */
  download: { done: number; total: number };
  crawls: Record<string, CrawlProgress>;
  /** Spark stages by name (extract-…, reference-…, train-classifier, quality-filter). */
  spark: Record<string, SparkStageProgress>;
  /** How many extraction jobs the run's crawls make (set when extraction starts). */
  extractJobs?: number;
  /** When each stage began and ended (workflow time, ISO 8601), in the order they ran. */
  stages: StageTiming[];
}

export interface StageTiming {
  stage: Stage;
  startedAt: string;
  endedAt?: string;
  seconds?: number;
}

/** Moves the run into `stage`: the previous stage ends now. */
export function enterStage(progress: BuildMixtureProgress, stage: Stage, now: Date): void {
  const current = progress.stages.at(-1);
  if (current && current.endedAt === undefined) {
    current.endedAt = now.toISOString();
    current.seconds = (now.getTime() - Date.parse(current.startedAt)) / 1000;
  }
  progress.stage = stage;
  if (stage !== 'done') progress.stages.push({ stage, startedAt: now.toISOString() });
}

export interface SparkStageProgress {
  state: 'running' | 'done' | 'skipped';
  rowsIn?: number;
  rowsKept?: number;
}

export function emptyProgress(): BuildMixtureProgress {
  return {
    stage: 'validate',
    paused: false,
    // Zero until the config is validated; the run sets them from it before its first activity.
    limits: { maxConcurrentDownloads: 0, maxRequestsPerSecond: 0 },
    discover: { done: 0, total: 0 },
    download: { done: 0, total: 0 },
    crawls: {},
    spark: {},
    stages: [],
  };
}
