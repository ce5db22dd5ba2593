/**
 * `ccmix demo`: the main job on the embedded default. Generates the miniature crawl, starts the
 * real local services, runs buildMixture against the mirror through the worker, and says what
 * happened.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../config/schema';
import { generateMiniCrawl, type MiniCrawlSummary } from '../core/minicrawl';
import { REPO_ROOT } from '../core/paths';
import { loadSettings, mirrorUrl, servicesUp, temporalAddress } from '../infra/services';
import { connectClient, startBuildMixture, waitForResult } from './client';
import { renderMixture, renderProgress } from './render';
import type { StageOutcome } from '../workflows/spark-stage';

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

export const DEMO_CONFIG_PATH = path.join(REPO_ROOT, 'config/examples/demo.json');
/** The miniature crawl the demo serves: size 1 with the config's crawls. */
export const DEMO_CRAWL = { size: 1, seed: 1 } as const;

const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;

async function ensureMiniCrawl(outDir: string, crawls: readonly string[]): Promise<MiniCrawlSummary> {
  const summaryPath = path.join(outDir, 'ground-truth', 'summary.json');
  if (existsSync(summaryPath)) {
    const existing = JSON.parse(readFileSync(summaryPath, 'utf8')) as MiniCrawlSummary;
    const same =
      existing.params.size === DEMO_CRAWL.size &&
      existing.params.seed === DEMO_CRAWL.seed &&
      JSON.stringify(existing.params.crawls) === JSON.stringify(crawls);
    if (same) return existing;
  }
  return generateMiniCrawl({ outDir, ...DEMO_CRAWL, crawls });
}

export async function runDemo(): Promise<number> {
  const started = Date.now();
  const config = parseConfig(JSON.parse(readFileSync(DEMO_CONFIG_PATH, 'utf8')));
  const settings = loadSettings();

  let t = Date.now();
  const crawl = await ensureMiniCrawl(settings.mirrorRoot, config.crawls);
  console.log(
    `mini crawl: ${crawl.files} WET files, ${crawl.records} records, ${(crawl.bytes / 2 ** 20).toFixed(1)} MiB ` +
      `in ${settings.mirrorRoot} (${seconds(t)})`,
  );

  t = Date.now();
  const statuses = await servicesUp(settings);
  for (const s of statuses) console.log(`service ${s.name.padEnd(8)} pid ${s.pid}  ${s.address}`);
  console.log(`services up (${seconds(t)})`);

  // The example config names the default mirror port; follow the one actually in use.
  const input = { ...config, source: { kind: 'http' as const, baseUrl: mirrorUrl(settings) } };
  t = Date.now();
  const client = await connectClient(temporalAddress(settings));
  const { workflowId } = await startBuildMixture(client, input);
  console.log(
    `buildMixture started: ${workflowId} (watch it at http://${settings.host}:${settings.temporalUiPort})`,
  );
  let last = '';
  const result = await waitForResult(client, workflowId, (progress) => {
    const text = renderProgress(progress).split('\n').slice(0, 3).join(' ').replace(/\s+/g, ' ');
    if (text !== last) console.log(text);
    last = text;
  });
  console.log(`buildMixture finished in ${seconds(t)}`);
  console.log(
    `stages: ${result.stages.map((s) => `${s.stage} ${(s.seconds ?? 0).toFixed(1)} s`).join(', ')}`,
  );
  console.log(
    `discover: ${result.crawls} crawls, ${result.wetFilesListed} WET keys listed, ${result.wetFilesSelected} selected, ` +
      `${result.keysRejected} rejected, ${result.discoverSkipped} crawls already committed`,
  );
  const d = result.download;
  const reasons = Object.entries(d.quarantinedReasons)
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  console.log(
    `download: ${d.ok}/${d.files} WET files verified and published, ${(d.bytes / 2 ** 20).toFixed(1)} MiB, ` +
      `${d.retries} retries, ${d.quarantined} quarantined${reasons ? ` (${reasons})` : ''}`,
  );
  const q = result.quality;
  if (q) {
    const kept = (o: { rowsKept: number; rowsIn: number; skipped: boolean }): string =>
      `${o.rowsKept}/${o.rowsIn}${o.skipped ? ' (committed earlier)' : ''}`;
    const crawlsExtracted = Object.keys(q.extract).length;
    const ranOn = new Set(Object.values(q.extract).flatMap((e) => (e.ranOn ? [e.ranOn] : [])));
    const where = ranOn.size > 0 ? `, on ${[...ranOn].join(', ')}` : '';
    console.log(
      `extract: ${kept(totalOf(q.extract))} WET records became documents (${crawlsExtracted} crawls${where})`,
    );
    for (const [name, r] of Object.entries(q.references))
      console.log(`reference ${name}: ${kept(r)} documents`);
    const auc =
      typeof q.classifier.extra.holdout_auc === 'number' ? q.classifier.extra.holdout_auc.toFixed(3) : '?';
    console.log(
      `classifier: trained on ${kept(q.classifier)} sampled documents, AUC ${auc} on held-out reference vs raw Common Crawl documents`,
    );
    console.log(
      `quality filter (Pareto, alpha ${config.pareto.alpha}): kept ${kept(q.filter)} Common Crawl documents`,
    );
  }
  const dd = result.dedup;
  if (dd) {
    const removed = Object.entries(dd.droppedByReason)
      .map(([r, n]) => `${r} ${n}`)
      .join(', ');
    const figure = (key: string): string => (typeof dd.extra[key] === 'number' ? String(dd.extra[key]) : '?');
    console.log(
      `dedup (MinHashLSH, ${config.dedup.numHashes} hashes, ${config.dedup.bands} bands): kept ${dd.rowsKept}/${dd.rowsIn} ` +
        `documents${dd.skipped ? ' (committed earlier)' : ''}; removed ${removed || 'none'}; ` +
        `${figure('candidate_pairs')} candidate pairs, ${figure('verified_pairs')} verified, ${figure('clusters')} clusters`,
    );
  }
  if (result.mixture) console.log(renderMixture(result.mixture));
  if (result.report) console.log(`report: ${result.report.html} (and report.json beside it)`);
  for (const f of result.crawlsFailed) console.log(`crawl ${f.crawl} failed: ${f.reason}`);
  console.log(`storage root: ${path.resolve(REPO_ROOT, config.storageRoot)}`);
  console.log(
    `demo finished in ${seconds(started)}; services keep running (\`npx ccmix services down\` stops them)`,
  );
  return 0;
}
