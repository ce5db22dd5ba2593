/**
 * Writes a run's report: reads what the workflow did not carry (dedup metrics, the manifest, the
 * download inventories, the ground truth), builds the report, renders it, and writes
 * `reports/<workflowId>/report.json` and `report.html` under the storage root.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { legacyInventoryPath, readInventoryIfPresent } from '../download/inventory';
import { MANIFEST_FILE } from '../mix/finish';
import type { Manifest } from '../mix/manifest';
import type { JobMetrics } from '../spark/submit';
import { stageDirOf, type SparkCommit } from '../spark/signature';
import { readCommitted } from '../stage';
import { openStorage, type Storage } from '../storage';
import type { RunReportFiles, RunReportInput, StageFacts } from './facts';
import { readQualityLabels, scoreAgainstTruth, type ScoredDocument } from './ground-truth';
import { renderReportHtml } from './html';
import { buildRunReport, type GroundTruthSection, type QuarantinedFile, type ReportReadings } from './report';

export const reportDir = (workflowId: string): string => `reports/${workflowId}`;

async function clusterSizes(
  storage: Storage,
  dedup: StageFacts | undefined,
): Promise<ReportReadings['clusterSizes']> {
  const stageDir = dedup ? stageDirOf(dedup.output) : null;
  if (!stageDir) return [];
  const commit = await readCommitted<SparkCommit<JobMetrics>>(storage, stageDir);
  const distributions = (commit?.metrics.distributions ?? {}) as Record<string, { histogram?: unknown }>;
  const histogram = distributions.cluster_size?.histogram;
  return Array.isArray(histogram) ? (histogram as { lo: number; hi: number; count: number }[]) : [];
}

async function quarantined(
  storage: Storage,
  crawls: readonly string[],
  inventories: Record<string, string> = {},
): Promise<QuarantinedFile[]> {
  const files: QuarantinedFile[] = [];
  for (const crawl of crawls) {
    const inventory = inventories[crawl] ?? legacyInventoryPath(crawl);
    for (const r of (await readInventoryIfPresent(storage, inventory)) ?? []) {
      if (r.status === 'quarantined')
        files.push({ crawl, key: r.key, reason: r.reason ?? 'unknown', retries: r.retries });
    }
  }
  return files;
}

async function readManifest(
  storage: Storage,
  mixOutput: string | undefined,
): Promise<ReportReadings['manifest']> {
  const file = mixOutput ? `${mixOutput}/${MANIFEST_FILE}` : null;
  const data = file ? await storage.readIfPresent(file) : null;
  if (!file || !data) return null;
  return { uri: storage.uri(file), manifest: JSON.parse(data.toString('utf8')) as Manifest };
}

/** Scores and decisions of the filter: `kind=doc` was kept, `kind=dropped` was not (unscored rows skipped). */
export async function readFilterScores(storage: Storage, filterOutput: string): Promise<ScoredDocument[]> {
  // hyparquet is published as ES modules only; CommonJS code reaches it through import().
  const { parquetReadObjects } = await import('hyparquet');
  const scored: ScoredDocument[] = [];
  for (const [kind, kept] of [
    ['doc', true],
    ['dropped', false],
  ] as const) {
    const files = (await storage.list(`${filterOutput}/kind=${kind}/`)).filter((f) => f.endsWith('.parquet'));
    for (const file of files) {
      const data = await storage.read(file);
      const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
      const rows = (await parquetReadObjects({ file: buffer, columns: ['doc_id', 'score'] })) as {
        doc_id: string | null;
        score: number | null;
      }[];
      for (const row of rows) {
        if (row.doc_id !== null && typeof row.score === 'number')
          scored.push({ docId: row.doc_id, score: row.score, kept });
      }
    }
  }
  return scored;
}

async function groundTruth(storage: Storage, input: RunReportInput): Promise<GroundTruthSection> {
  const configured = input.groundTruth ?? null;
  if (!configured)
    return {
      path: null,
      note: 'the run is not on the miniature crawl (config report.groundTruth)',
      figures: null,
    };
  const filter = input.run.quality?.filter;
  if (!filter) return { path: configured, note: 'the run stopped before the classifier', figures: null };
  const dir = path.resolve(configured);
  if (!existsSync(path.join(dir, 'documents.jsonl')))
    return { path: configured, note: `no documents.jsonl in ${dir}`, figures: null };
  const figures = scoreAgainstTruth(
    await readFilterScores(storage, filter.output),
    await readQualityLabels(dir),
  );
  return { path: configured, note: figures.matched === 0 ? 'no scored document is in it' : null, figures };
}

export async function readReportReadings(
  storage: Storage,
  input: RunReportInput,
  now: Date,
): Promise<ReportReadings> {
  return {
    generatedAt: now.toISOString(),
    manifest: await readManifest(storage, input.mixOutput),
    clusterSizes: await clusterSizes(storage, input.run.dedup),
    quarantined: await quarantined(storage, input.downloadedCrawls, input.run.download.inventories),
    groundTruth: await groundTruth(storage, input),
  };
}

export async function writeRunReport(input: RunReportInput, now = new Date()): Promise<RunReportFiles> {
  const storage = openStorage(input.storageRoot);
  const report = buildRunReport(input, await readReportReadings(storage, input, now));
  const html = await renderReportHtml(report);
  const dir = reportDir(input.workflowId);
  await storage.write(`${dir}/report.json`, `${JSON.stringify(report, null, 2)}\n`);
  await storage.write(`${dir}/report.html`, html);
  return { json: storage.uri(`${dir}/report.json`), html: storage.uri(`${dir}/report.html`) };
}
