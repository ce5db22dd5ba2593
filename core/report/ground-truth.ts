/**
 * The classifier against the miniature crawl's ground truth: every generated page carries a
 * quality label (`high` or `low`) in `ground-truth/documents.jsonl`. The filter's scores and
 * decisions are matched to it by `doc_id`, which extraction derives from the WARC-Record-ID
 * exactly as here (spark_jobs/documents.py `make_doc_id`).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** The dataset name extraction puts into Common Crawl doc ids (spark_jobs/extract.py). */
export const COMMON_CRAWL_DATASET = 'common_crawl';

export function makeDocId(dataset: string, identity: string): string {
  return createHash('sha256').update(`${dataset}\x00${identity}`).digest('hex').slice(0, 32);
}

/** doc_id -> true for a page labelled high quality, false for low. */
export async function readQualityLabels(groundTruthDir: string): Promise<Map<string, boolean>> {
  const text = await readFile(path.join(groundTruthDir, 'documents.jsonl'), 'utf8');
  const labels = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const page = JSON.parse(line) as { record_id?: string; quality?: string };
    if (!page.record_id || (page.quality !== 'high' && page.quality !== 'low')) continue;
    labels.set(makeDocId(COMMON_CRAWL_DATASET, page.record_id), page.quality === 'high');
  }
  return labels;
}

export interface ScoredDocument {
  docId: string;
  score: number;
  kept: boolean;
}

export interface GroundTruthQuality {
  /** Scored documents found in the ground truth, and how many of them are labelled high. */
  matched: number;
  high: number;
  /** Area under the ROC curve of the score for "labelled high" (ties count one half). */
  auc: number | null;
  kept: number;
  keptHigh: number;
  /** Share of the kept documents labelled high; `baseRate` is that share before filtering. */
  keptPrecision: number | null;
  baseRate: number | null;
  /** Share of the high documents the filter kept. */
  highRecall: number | null;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

/** Mann-Whitney AUC: the chance that a random high page outscores a random low one. */
export function aucOf(points: readonly { score: number; positive: boolean }[]): number | null {
  const sorted = [...points].sort((a, b) => a.score - b.score);
  const positives = sorted.filter((p) => p.positive).length;
  const negatives = sorted.length - positives;
  if (positives === 0 || negatives === 0) return null;
  let rankSum = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && sorted[j]?.score === sorted[i]?.score) j++;
    const averageRank = (i + 1 + j) / 2; // ranks i+1 .. j share their mean
    for (let k = i; k < j; k++) if (sorted[k]?.positive) rankSum += averageRank;
    i = j;
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function scoreAgainstTruth(
  scored: readonly ScoredDocument[],
  labels: ReadonlyMap<string, boolean>,
): GroundTruthQuality {
  const points: { score: number; positive: boolean; kept: boolean }[] = [];
  for (const doc of scored) {
    const label = labels.get(doc.docId);
    if (label !== undefined) points.push({ score: doc.score, positive: label, kept: doc.kept });
  }
  const high = points.filter((p) => p.positive).length;
  const kept = points.filter((p) => p.kept);
  const keptHigh = kept.filter((p) => p.positive).length;
  return {
    matched: points.length,
    high,
    auc: aucOf(points),
    kept: kept.length,
    keptHigh,
    keptPrecision: ratio(keptHigh, kept.length),
    baseRate: ratio(high, points.length),
    highRecall: ratio(keptHigh, high),
  };
}
