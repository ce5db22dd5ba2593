/**
 * Orchestration benchmark (not a test): buildMixture's download stage through the real workflows,
 * the Temporal dev server and the mirror, with every WET file tiny (every key a hard link to one
 * small valid WET file), so that only workflows, batching and histories are measured. Prints the
 * history of every workflow run (events, bytes), continue-as-new counts, the worker's RSS over time
 * and orchestration time per file.
 *
 *   node --expose-gc dist/test/bench/orchestration.bench.js [--crawls 41] [--files 1800]
 *   node --expose-gc dist/test/bench/orchestration.bench.js --files announced --no-fetch
 *
 * `--files announced` gives each crawl its real WET file count where Common Crawl announced it
 * (four of the 41) and shares the rest of DESIGN.md's 2.5 million evenly over the others.
 * `--no-fetch` is the dry run for that scale: the download activity reads its batch from
 * discover's key list and commits its inventory part as the real one does, but fetches nothing
 * (2.5 million fetches of even tiny files take a day on two cores). Workflows, batching,
 * continue-as-new, the inventory merge and the worker are the product's own.
 *
 * The worker runs in this process, so its RSS is the worker's plus a client's. Download settings
 * are the defaults except the request-rate ceiling, a politeness limit towards Common Crawl that
 * would otherwise be all this measures.
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as activities from '../../activities';
import { startBuildMixture } from '../../cli/client';
import { DEFAULT_CRAWLS } from '../../config/crawls';
import { parseConfig } from '../../config/schema';
import {
  batchKeys,
  totalsOf,
  type DownloadBatchInput,
  type DownloadBatchResult,
} from '../../core/download/batch';
import {
  inventoryPartPath,
  rawPathFor,
  writeInventory,
  type InventoryRecord,
} from '../../core/download/inventory';
import { openStorage } from '../../core/storage';
import { mirrorUrl } from '../../infra/services';
import type { BuildMixtureResult } from '../../workflows';
import { runHistories, type RunHistory } from '../helpers/histories';
import { startTestStack, tempDir } from '../helpers/services';
import { writeTinyCrawls } from '../helpers/tiny-crawl';
import { median } from './median';

/**
 * WET files per crawl as Common Crawl's announcement of the crawl states them (its file table on
 * commoncrawl.org: September 2016, August 2018, September 2018, February 2019). The other crawls'
 * counts could not be read here; DESIGN.md puts a crawl at 30k–72k files and all 41 at about 2.5
 * million.
 */
const ANNOUNCED_WET_FILES: Record<string, number> = {
  'CC-MAIN-2016-40': 30_374,
  'CC-MAIN-2018-34': 71_520,
  'CC-MAIN-2018-39': 56_320,
  'CC-MAIN-2019-09': 64_000,
};
const SMALLEST_CRAWL_FILES = Math.min(...Object.values(ANNOUNCED_WET_FILES));
const LARGEST_CRAWL_FILES = Math.max(...Object.values(ANNOUNCED_WET_FILES));
const PAPER_FILES = 2_500_000;
const PAPER_CRAWLS = 41;
/** Temporal's hard limits on one workflow run's history. */
const LIMIT_EVENTS = 51_200;
const LIMIT_BYTES = 50 * 1024 * 1024;

/**
 * The download activity without the download (`--no-fetch`): the batch's keys through the real
 * batchKeys, its inventory part committed as downloadBatch commits it, each file recorded as
 * published with no bytes.
 */
async function downloadBatchWithoutFetching(input: DownloadBatchInput): Promise<DownloadBatchResult> {
  const storage = openStorage(input.storageRoot);
  const inventoryPart = inventoryPartPath(input.crawl, input.listId, input.batchSize, input.batch);
  const records: InventoryRecord[] = (await batchKeys(storage, input)).map((key) => ({
    key,
    rawPath: rawPathFor(input.crawl, key),
    bytes: 0,
    sha256: null,
    status: 'ok',
    reason: null,
    retries: 0,
  }));
  await writeInventory(storage, inventoryPart, records);
  return {
    ...totalsOf(records),
    fetchedBytes: 0,
    batch: input.batch,
    inventoryPart,
    alreadyCommitted: false,
    rate: input.maxRequestsPerSecond,
  };
}

const { values } = parseArgs({
  options: {
    crawls: { type: 'string', default: '41' },
    files: { type: 'string', default: '1800' },
    'no-fetch': { type: 'boolean', default: false },
    'sample-seconds': { type: 'string', default: '5' },
  },
});
const crawls = DEFAULT_CRAWLS.slice(0, Number(values.crawls));
/** With `--files announced`, the crawls without an announced count share the rest of the 2.5 million. */
const announcedCrawls = crawls.filter((crawl) => crawl in ANNOUNCED_WET_FILES);
const unannouncedFiles = Math.round(
  (PAPER_FILES - announcedCrawls.reduce((n, crawl) => n + (ANNOUNCED_WET_FILES[crawl] ?? 0), 0)) /
    (PAPER_CRAWLS - announcedCrawls.length),
);
const filesOf = (crawl: string): number =>
  values.files === 'announced' ? (ANNOUNCED_WET_FILES[crawl] ?? unannouncedFiles) : Number(values.files);
const noFetch = values['no-fetch'];
const defaults = parseConfig({}).download;

interface Sample {
  seconds: number;
  rssMb: number;
  heapMb: number;
}

const mb = (bytes: number): number => bytes / 1024 / 1024;
const fmt = (x: number, digits = 1): string => x.toLocaleString('en-US', { maximumFractionDigits: digits });

function sampleMemory(started: number): Sample {
  // With --expose-gc, heap after a collection: what is retained, not what awaits collection.
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { seconds: (Date.now() - started) / 1000, rssMb: mb(m.rss), heapMb: mb(m.heapUsed) };
}

/** Least-squares slope of y over x. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

function historyLine(label: string, runs: RunHistory[]): string {
  if (runs.length === 0) return `  ${label}: none`;
  const events = runs.map((r) => r.events);
  const bytes = runs.map((r) => r.bytes);
  return (
    `  ${label}: ${runs.length} runs; events max ${Math.max(...events)}, median ${median(events)}; ` +
    `bytes max ${fmt(Math.max(...bytes) / 1024)} KiB, median ${fmt(median(bytes) / 1024)} KiB`
  );
}

async function main(): Promise<void> {
  const root = tempDir('orch-src');
  const storageRoot = tempDir('orch-root');
  const t0 = Date.now();
  writeTinyCrawls(root, crawls, filesOf, { listingsOnly: noFetch });
  const counts = crawls.map(filesOf);
  const files = counts.reduce((n, count) => n + count, 0);
  console.log(
    `${crawls.length} crawls, ${fmt(Math.min(...counts))}–${fmt(Math.max(...counts))} files each, ${fmt(files)} in all; ` +
      `${noFetch ? 'listings' : 'tiny files'} written in ${fmt((Date.now() - t0) / 1000)} s`,
  );
  const stack = await startTestStack(
    ['temporal', 'mirror'],
    root,
    noFetch ? { ...activities, downloadBatch: downloadBatchWithoutFetching } : undefined,
  );
  try {
    const baseline = sampleMemory(Date.now());
    const started = Date.now();
    const samples: Sample[] = [];
    const timer = setInterval(
      () => samples.push(sampleMemory(started)),
      Number(values['sample-seconds']) * 1000,
    );
    const { workflowId } = await startBuildMixture(stack.client, {
      name: 'orchestration-bench',
      crawls,
      source: { kind: 'http', baseUrl: mirrorUrl(stack.services.settings) },
      wetFilesPerCrawl: { fraction: 1 },
      stopAfter: 'download',
      storageRoot,
      download: { maxRequestsPerSecond: 1_000_000 },
    });
    const result = (await stack.client.workflow.getHandle(workflowId).result()) as BuildMixtureResult;
    clearInterval(timer);
    const seconds = (Date.now() - started) / 1000;
    samples.push(sampleMemory(started));
    if (result.download.ok !== files) throw new Error(`downloaded ${result.download.ok} of ${files} files`);

    const histories = await runHistories(stack.client, 'orchestration-bench');
    const crawlRuns = histories.filter((h) => h.workflowId.includes('-download-'));
    const parentRuns = histories.filter((h) => !h.workflowId.includes('-download-'));
    const perCrawl = new Map<string, number>();
    for (const r of crawlRuns) perCrawl.set(r.workflowId, (perCrawl.get(r.workflowId) ?? 0) + 1);
    const continued = crawlRuns.filter((r) => r.continuedAsNew).length;
    const worstEvents = Math.max(...histories.map((h) => h.events));
    const worstBytes = Math.max(...histories.map((h) => h.bytes));
    const batches = counts.reduce((n, count) => n + Math.ceil(count / defaults.filesPerActivity), 0);

    console.log(
      `\nsettings: filesPerActivity ${defaults.filesPerActivity}, batchesPerWorkflowRun ${defaults.batchesPerWorkflowRun}, ` +
        `maxConcurrentCrawls ${defaults.maxConcurrentCrawls}, maxConcurrentDownloads ${defaults.maxConcurrentDownloads}`,
    );
    console.log(
      `files ${fmt(files)} (${fmt(batches)} batches) in ${fmt(seconds)} s${noFetch ? ', none fetched (--no-fetch)' : ''}`,
    );
    console.log(
      `orchestration per file ${fmt((seconds * 1000) / files, 2)} ms, per batch ${fmt((seconds * 1000) / batches, 1)} ms (wall, this machine)`,
    );
    console.log('histories:');
    console.log(historyLine('buildMixture', parentRuns));
    console.log(historyLine('downloadCrawl', crawlRuns));
    const runsPerCrawl = [...perCrawl.values()];
    console.log(
      `  continue-as-new: ${continued} (runs per crawl ${Math.min(...runsPerCrawl)}–${Math.max(...runsPerCrawl)})`,
    );
    console.log(
      `  worst run: ${worstEvents} events (${fmt((100 * worstEvents) / LIMIT_EVENTS, 2)}% of ${fmt(LIMIT_EVENTS)}), ` +
        `${fmt(worstBytes / 1024)} KiB (${fmt((100 * worstBytes) / LIMIT_BYTES, 3)}% of 50 MiB)`,
    );

    // Writing the listings happens in this process too: at 2.5 million keys it leaves RSS high
    // (the heap is collected, the pages stay), so the baseline's heap says more than its RSS.
    console.log(
      `worker RSS (before the run: rss ${fmt(baseline.rssMb)} MB, heap ${fmt(baseline.heapMb)} MB, after writing the listings):`,
    );
    const shown = samples.filter(
      (_, i) => i % Math.max(1, Math.ceil(samples.length / 12)) === 0 || i === samples.length - 1,
    );
    for (const s of shown)
      console.log(
        `  ${fmt(s.seconds, 0).padStart(6)} s  rss ${fmt(s.rssMb).padStart(7)} MB  heap ${fmt(s.heapMb).padStart(6)} MB`,
      );
    const peak = samples.reduce((a, b) => (b.rssMb > a.rssMb ? b : a));
    console.log(`  peak rss ${fmt(peak.rssMb)} MB at ${fmt(peak.seconds, 0)} s`);
    // Growth with files: the slope over the second half (after warm-up), at the run's file rate.
    // The last sample is left out: it falls after the last crawls' inventory merges, which hold a
    // crawl's records at once (memory that grows with a crawl's files, not the run's).
    const late = samples.slice(Math.floor(samples.length / 2), -1);
    const filesPerSecond = files / seconds;
    if (late.length >= 3) {
      const rssPerSecond = slope(late.map((s) => ({ x: s.seconds, y: s.rssMb })));
      const heapPerSecond = slope(late.map((s) => ({ x: s.seconds, y: s.heapMb })));
      console.log(
        `  second-half slope: rss ${fmt((rssPerSecond / filesPerSecond) * 100_000, 2)} MB, ` +
          `heap ${fmt((heapPerSecond / filesPerSecond) * 100_000, 2)} MB per 100,000 files`,
      );
    }

    if (files >= PAPER_FILES) return;
    // Extrapolation to the paper's run, stated as such.
    const runsFor = (n: number): number =>
      Math.ceil(n / (defaults.filesPerActivity * defaults.batchesPerWorkflowRun));
    console.log('\nextrapolated (not run) to the paper, at the per-file time measured here:');
    console.log(
      `  ${PAPER_CRAWLS} crawls, ${fmt(PAPER_FILES)} files: ${fmt((PAPER_FILES * seconds) / files / 3600, 1)} h of orchestration; ` +
        `downloadCrawl runs per crawl ${runsFor(SMALLEST_CRAWL_FILES)} (${fmt(SMALLEST_CRAWL_FILES)} files) to ` +
        `${runsFor(LARGEST_CRAWL_FILES)} (${fmt(LARGEST_CRAWL_FILES)}), about ${fmt(runsFor(PAPER_FILES / PAPER_CRAWLS) * PAPER_CRAWLS, 0)} in all; ` +
        `events per run stay at the measured maximum, since a run holds at most batchesPerWorkflowRun batches`,
    );
  } finally {
    await stack.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(storageRoot, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
