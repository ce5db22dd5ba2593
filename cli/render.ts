/** Text rendering of a run's progress for `ccmix status` and the demo. */
import type { SparkProgress } from '../core/spark/progress';
import type { MixtureSummary } from '../core/mix/finish';
import type { VerifyLive } from '../core/mix/verify';
import type { Config } from '../config/schema';
import type { BuildMixtureProgress, BuildMixtureResult, DownloadCrawlProgress } from '../workflows';
import type { StageOutcome } from '../workflows/spark-stage';

export function bar(done: number, total: number, width = 24): string {
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export function renderDownload(p: DownloadCrawlProgress): string {
  return (
    `    ${p.crawl} ${bar(p.files, p.filesTotal, 16)} files  ${mib(p.bytes)}  ` +
    `retries ${p.retries}  quarantined ${p.quarantined}  rate ${p.rate.toFixed(1)}/s`
  );
}

export interface SparkLive {
  stage: string;
  spark: SparkProgress | null;
}

export function renderProgress(
  progress: BuildMixtureProgress,
  downloads: readonly DownloadCrawlProgress[] = [],
  sparkLive: SparkLive | null = null,
  verifyLive: VerifyLive | null = null,
): string {
  const lines = [
    `stage: ${progress.stage}${progress.paused ? '  PAUSED (ccmix resume RUN)' : ''}`,
    `  discover ${bar(progress.discover.done, progress.discover.total)} crawls`,
    `  download ${bar(progress.download.done, progress.download.total)} crawls  ` +
      `limits: ${progress.limits.maxConcurrentDownloads} files in flight, ${progress.limits.maxRequestsPerSecond} requests/s`,
  ];
  for (const [crawl, p] of Object.entries(progress.crawls)) {
    if (p.failed) lines.push(`    ${crawl} FAILED: ${p.failed}`);
    else if (p.keysRejected > 0) lines.push(`    ${crawl} ${p.keysRejected} keys rejected by discover`);
  }
  lines.push(...downloads.map(renderDownload));
  // The extraction jobs (one per group of crawls, up to 41) read as one line.
  const spark = Object.entries(progress.spark);
  const extracts = spark.filter(([stage]) => stage.startsWith('extract-')).map(([, p]) => p);
  if (extracts.length > 0) {
    const finished = extracts.filter((p) => p.state !== 'running');
    const rowsIn = finished.reduce((n, p) => n + (p.rowsIn ?? 0), 0);
    const rowsKept = finished.reduce((n, p) => n + (p.rowsKept ?? 0), 0);
    lines.push(
      `  spark ${'extract'.padEnd(20)} ${bar(finished.length, progress.extractJobs ?? extracts.length, 16)} jobs, ` +
        `${extracts.length - finished.length} running  ${rowsKept}/${rowsIn} rows kept`,
    );
  }
  for (const [stage, p] of spark.filter(([name]) => !name.startsWith('extract-'))) {
    const rows = p.rowsIn === undefined ? '' : `  ${p.rowsKept}/${p.rowsIn} rows kept`;
    lines.push(`  spark ${stage.padEnd(20)} ${p.state}${rows}`);
  }
  if (sparkLive) {
    const s = sparkLive.spark;
    lines.push(
      s
        ? `  spark ${sparkLive.stage}: jobs ${s.jobsDone}/${s.jobsTotal}, tasks ${bar(s.tasksDone, s.tasksTotal, 16)} (${s.activeTasks} running)`
        : `  spark ${sparkLive.stage}: starting`,
    );
  }
  if (verifyLive)
    lines.push(`  verify ${bar(verifyLive.scanned, verifyLive.dataFiles, 16)} data files scanned`);
  return lines.join('\n');
}

const percent = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);

/** The mixture as Table 2.2 reads, with what this run achieved beside the paper's figures. */
export function renderMixture(m: MixtureSummary): string {
  const header = [
    'source',
    'target',
    'achieved',
    'first 10%',
    'rows',
    'epochs',
    'paper weight',
    'paper epochs',
  ];
  const rows = m.sources.map((s) => [
    s.source,
    percent(s.targetWeight),
    percent(s.achievedWeight),
    percent(s.achievedPrefixWeight),
    String(s.rows ?? 0),
    s.epochs.toFixed(2),
    percent(s.paper.weight),
    s.paper.epochs.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')}`;
  const failed = m.checks.filter((c) => !c.ok).map((c) => c.check);
  return [
    `mixture: ${m.rows} rows x ${m.tokens / Math.max(1, m.rows)} ids = ${m.tokens} tokens in ${m.files} Parquet file(s); ` +
      (failed.length
        ? `verification FAILED: ${failed.join(', ')}`
        : `verified (${m.checks.length} checks passed)`),
    line(header),
    ...rows.map(line),
    `  Parquet: ${m.data}`,
    `  manifest: ${m.manifest}`,
  ].join('\n');
}

/** Rows in and kept over the per-crawl extractions; skipped only if every one was. */
function totalOf(outcomes: Record<string, StageOutcome>): {
  rowsIn: number;
  rowsKept: number;
  skipped: boolean;
} {
  const list = Object.values(outcomes);
  return {
    rowsIn: list.reduce((n, o) => n + o.rowsIn, 0),
    rowsKept: list.reduce((n, o) => n + o.rowsKept, 0),
    skipped: list.length > 0 && list.every((o) => o.skipped),
  };
}

/**
 * What a finished run did, as `ccmix demo` ends: each stage's own time on one line, then each
 * stage's counts (marked when committed by an earlier run), the mixture table and where the
 * report and the tokenized Parquet are.
 */
export function renderRunSummary(
  result: BuildMixtureResult,
  config: Pick<Config, 'pareto' | 'dedup'>,
): string[] {
  const lines: string[] = [];
  lines.push(`stages: ${result.stages.map((s) => `${s.stage} ${(s.seconds ?? 0).toFixed(1)} s`).join(', ')}`);
  lines.push(
    `discover: ${result.crawls} crawls, ${result.wetFilesListed} WET keys listed, ${result.wetFilesSelected} selected, ` +
      `${result.keysRejected} rejected, ${result.discoverSkipped} crawls already committed`,
  );
  const d = result.download;
  const reasons = Object.entries(d.quarantinedReasons)
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  lines.push(
    `download: ${d.ok}/${d.files} WET files verified and published, ${(d.bytes / 2 ** 20).toFixed(1)} MiB, ` +
      `${d.retries} retries, ${d.quarantined} quarantined${reasons ? ` (${reasons})` : ''}`,
  );
  const q = result.quality;
  if (q) {
    const kept = (o: { rowsKept: number; rowsIn: number; skipped: boolean }): string =>
      `${o.rowsKept}/${o.rowsIn}${o.skipped ? ' (committed earlier)' : ''}`;
    const jobs = Object.keys(q.extract).length;
    // Runs from before jobs were grouped extracted each crawl in a job of its own.
    const crawlsExtracted = q.extractCrawls ? Object.values(q.extractCrawls).flat().length : jobs;
    const ranOn = new Set(Object.values(q.extract).flatMap((e) => (e.ranOn ? [e.ranOn] : [])));
    const where = ranOn.size > 0 ? `, on ${[...ranOn].join(', ')}` : '';
    lines.push(
      `extract: ${kept(totalOf(q.extract))} WET records became documents (${crawlsExtracted} crawls in ${jobs} job${jobs === 1 ? '' : 's'}${where})`,
    );
    for (const [name, r] of Object.entries(q.references))
      lines.push(`reference ${name}: ${kept(r)} documents`);
    const auc =
      typeof q.classifier.extra.holdout_auc === 'number' ? q.classifier.extra.holdout_auc.toFixed(3) : '?';
    lines.push(
      `classifier: trained on ${kept(q.classifier)} sampled documents, AUC ${auc} on held-out reference vs raw Common Crawl documents`,
    );
    lines.push(
      `quality filter (Pareto, alpha ${config.pareto.alpha}): kept ${kept(q.filter)} Common Crawl documents`,
    );
  }
  const dd = result.dedup;
  if (dd) {
    const removed = Object.entries(dd.droppedByReason)
      .map(([r, n]) => `${r} ${n}`)
      .join(', ');
    const figure = (key: string): string => (typeof dd.extra[key] === 'number' ? String(dd.extra[key]) : '?');
    lines.push(
      `dedup (MinHashLSH, ${config.dedup.numHashes} hashes, ${config.dedup.bands} bands): kept ${dd.rowsKept}/${dd.rowsIn} ` +
        `documents${dd.skipped ? ' (committed earlier)' : ''}; removed ${removed || 'none'}; ` +
        `${figure('candidate_pairs')} candidate pairs, ${figure('verified_pairs')} verified, ${figure('clusters')} clusters`,
    );
  }
  if (result.mixture) lines.push(...renderMixture(result.mixture).split('\n'));
  if (result.report) lines.push(`report: ${result.report.html} (and report.json beside it)`);
  for (const f of result.crawlsFailed) lines.push(`crawl ${f.crawl} failed: ${f.reason}`);
  return lines;
}
