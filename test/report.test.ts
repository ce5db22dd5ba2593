/**
 * The run report: built from a real demo run's facts (test/fixtures/report: the workflow's result,
 * its manifest and dedup commit, recorded from `npm run demo`), plus inventories, filter scores
 * and ground truth written here; rendered, then opened in headless Chromium with every request
 * refused. `CCMIX_UPDATE_DOCS=1` also saves the screenshot as docs/report.png for the README.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import * as activities from '../activities';
import type { Manifest } from '../core/mix/manifest';
import { REPO_ROOT } from '../core/paths';
import { reportCharts } from '../core/report/charts';
import type { RunFacts, RunReportFiles, RunReportInput } from '../core/report/facts';
import { aucOf, COMMON_CRAWL_DATASET, makeDocId, scoreAgainstTruth } from '../core/report/ground-truth';
import type { RunReport } from '../core/report/report';
import { writeRunReport } from '../core/report/write';
import { writeInventory } from '../core/download/inventory';
import { LocalStorage } from '../core/storage';
import { browserSkipReason, launchChromium } from './helpers/browser';
import { quietLogger, tempDir } from './helpers/services';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'report');
const fixture = <T>(name: string): T => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')) as T;
const facts = fixture<RunFacts>('run-facts.json');
const manifest = fixture<Manifest>('manifest.json');
const MIX_OUTPUT = 'spark/mix/b998ef00f1072d5d/attempt-a1-89abef6c/data';
const WRITTEN_AT = new Date('2026-11-28T09:24:18.000Z');
const CHARTS = [
  'stage-timings',
  'score-histogram',
  'kept-per-crawl',
  'cluster-sizes',
  'dedup-removal',
  'mixture-weights',
  'mixture-epochs',
];

/**
 * The demo's 3,120 scored Common Crawl pages as (score, kept, labelled high), from its filter
 * output joined with the miniature crawl's ground truth; given record ids here. One page more
 * was never scored (empty text) and one kept page is not in the ground truth: both are skipped.
 */
const PAGES: [string, number | null, boolean, 'high' | 'low' | null][] = [
  ...readFileSync(path.join(FIXTURES, 'scores.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line, i): [string, number, boolean, 'high' | 'low'] => {
      const [score, kept, high] = line.split(',');
      return [`<urn:uuid:demo-${i}>`, Number(score), kept === '1', high === '1' ? 'high' : 'low'];
    }),
  ['<urn:uuid:empty>', null, false, 'low'],
  ['<urn:uuid:unlabelled>', 0.99, true, null],
];

/** What the report should find, counted pair by pair (no ranks, no sorting). */
function expectedTruth(): { matched: number; auc: number; keptPrecision: number; baseRate: number } {
  const labelled = PAGES.filter(([, s, , l]) => s !== null && l !== null) as [
    string,
    number,
    boolean,
    string,
  ][];
  const high = labelled.filter(([, , , l]) => l === 'high');
  const low = labelled.filter(([, , , l]) => l === 'low');
  let wins = 0;
  for (const [, h] of high) for (const [, l] of low) wins += h > l ? 1 : h === l ? 0.5 : 0;
  const kept = labelled.filter(([, , k]) => k);
  return {
    matched: labelled.length,
    auc: wins / (high.length * low.length),
    keptPrecision: kept.filter(([, , , l]) => l === 'high').length / kept.length,
    baseRate: high.length / labelled.length,
  };
}

async function writeScores(storage: LocalStorage, output: string): Promise<void> {
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  for (const [kind, kept] of [
    ['doc', true],
    ['dropped', false],
  ] as const) {
    const pages = PAGES.filter(([, , k]) => k === kept);
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: 'doc_id', data: pages.map(([id]) => makeDocId(COMMON_CRAWL_DATASET, id)), type: 'STRING' },
        { name: 'score', data: pages.map(([, s]) => s), type: 'DOUBLE' },
      ],
    });
    await storage.write(`${output}/kind=${kind}/part-00000.snappy.parquet`, new Uint8Array(buffer));
  }
}

/** A storage root holding what a finished demo run leaves for the report to read. */
async function demoRoot(): Promise<{ input: RunReportInput; root: string }> {
  const root = tempDir('report');
  const storage = new LocalStorage(root);
  const dedupDir = 'spark/dedup/843654e042debc9a';
  await storage.write(`${dedupDir}/_SUCCESS`, readFileSync(path.join(FIXTURES, 'dedup-commit.json')));
  await storage.write(`${MIX_OUTPUT}/manifest.json`, readFileSync(path.join(FIXTURES, 'manifest.json')));
  const reasons = ['corrupt: unexpected end of file', 'corrupt: incorrect header check'];
  for (const [i, crawl] of ['CC-MAIN-2016-07', 'CC-MAIN-2017-51'].entries()) {
    const key = (n: number) => `crawl-data/${crawl}/segments/1/wet/CC-${n}.warc.wet.gz`;
    await writeInventory(storage, `raw/${crawl}/inventory.parquet`, [
      {
        key: key(0),
        rawPath: null,
        bytes: 10,
        sha256: null,
        status: 'quarantined',
        reason: reasons[i] ?? '',
        retries: 2,
      },
      { key: key(1), rawPath: 'x', bytes: 10, sha256: 'ab', status: 'ok', reason: null, retries: 0 },
    ]);
  }
  const filterOutput = facts.quality?.filter.output ?? '';
  await writeScores(storage, filterOutput);
  const truth = path.join(root, 'ground-truth');
  mkdirSync(truth);
  const labelled = PAGES.filter(([, , , label]) => label !== null);
  writeFileSync(
    path.join(truth, 'documents.jsonl'),
    labelled.map(([record_id, , , quality]) => JSON.stringify({ record_id, quality })).join('\n'),
  );
  const downloadedCrawls = Object.keys(facts.quality?.filter.extra.per_crawl as object);
  const input: RunReportInput = {
    storageRoot: root,
    workflowId: 'ccmix-demo-f01919035ba0',
    run: facts,
    downloadedCrawls,
    mixOutput: MIX_OUTPUT,
    alpha: 9,
    stopAfter: 'mix',
    groundTruth: truth,
  };
  return { input, root };
}

void test('AUC counts ties as one half; ground truth matches scored documents by doc_id', () => {
  assert.equal(
    aucOf([
      { score: 1, positive: true },
      { score: 0, positive: false },
    ]),
    1,
  );
  assert.equal(
    aucOf([
      { score: 0.5, positive: true },
      { score: 0.5, positive: false },
    ]),
    0.5,
  );
  assert.equal(aucOf([{ score: 0.5, positive: true }]), null);
  const labels = new Map([
    [makeDocId(COMMON_CRAWL_DATASET, 'r1'), true],
    [makeDocId(COMMON_CRAWL_DATASET, 'r2'), false],
  ]);
  const quality = scoreAgainstTruth(
    [
      { docId: makeDocId(COMMON_CRAWL_DATASET, 'r1'), score: 0.9, kept: true },
      { docId: makeDocId(COMMON_CRAWL_DATASET, 'r2'), score: 0.2, kept: false },
      { docId: 'not-labelled', score: 0.5, kept: true },
    ],
    labels,
  );
  assert.deepEqual(
    { matched: quality.matched, auc: quality.auc, kept: quality.kept, precision: quality.keptPrecision },
    { matched: 2, auc: 1, kept: 1, precision: 1 },
  );
  // Extraction's doc id: the first 32 hex digits of sha256("common_crawl\0<WARC-Record-ID>").
  assert.match(makeDocId(COMMON_CRAWL_DATASET, '<urn:uuid:a>'), /^[0-9a-f]{32}$/);
});

let written: { input: RunReportInput; json: string; html: string } | undefined;

async function demoReport(): Promise<{ input: RunReportInput; json: string; html: string }> {
  if (!written) {
    const { input } = await demoRoot();
    written = { input, ...(await writeRunReport(input, WRITTEN_AT)) };
  }
  return written;
}

void test('report.json holds the manifest, quarantined files, dedup clusters and the ground truth', async () => {
  const { input, json, html } = await demoReport();
  assert.equal(json, path.join(input.storageRoot, 'reports', input.workflowId, 'report.json'));
  assert.equal(html, path.join(input.storageRoot, 'reports', input.workflowId, 'report.html'));
  const report = JSON.parse(readFileSync(json, 'utf8')) as RunReport;
  assert.equal(report.run.generatedAt, WRITTEN_AT.toISOString());
  assert.deepEqual(report.mixture?.sources, manifest.sources);
  assert.equal(report.mixture?.rows, manifest.rows);
  assert.equal(report.mixture?.tokens, manifest.rows * manifest.nCtx);
  assert.deepEqual(
    report.quarantined.files.map((f) => [f.crawl, f.reason]),
    [
      ['CC-MAIN-2016-07', 'corrupt: unexpected end of file'],
      ['CC-MAIN-2017-51', 'corrupt: incorrect header check'],
    ],
  );
  const gt = report.quality?.groundTruth.figures;
  assert.ok(gt, `ground truth figures (${report.quality?.groundTruth.note})`);
  const expected = expectedTruth();
  assert.equal(gt.matched, expected.matched);
  assert.ok(Math.abs((gt.auc ?? NaN) - expected.auc) < 1e-12, `AUC ${gt.auc} vs ${expected.auc}`);
  assert.equal(gt.keptPrecision, expected.keptPrecision);
  assert.equal(gt.baseRate, expected.baseRate);
  assert.equal(report.quality?.classifier.holdoutAuc, 0.874575);
  assert.equal(report.quality?.perCrawl.length, 41);
  assert.deepEqual(report.dedup?.clusterSizes[0], { lo: 2, hi: 3, clusters: 16 });
  const cc = report.dedup?.perDataset.find((d) => d.dataset === 'commonCrawl');
  assert.deepEqual([cc?.in, cc?.removed], [248, 30]);
  assert.deepEqual(
    report.stages.map((s) => s.stage),
    ['discover', 'download', 'extract', 'classify', 'dedup', 'mix', 'report'],
  );
  assert.deepEqual(
    reportCharts(report).map((c) => c.id),
    CHARTS,
  );
  // Self-contained: no script, no stylesheet link, no URL of any kind.
  const page = readFileSync(html, 'utf8');
  assert.doesNotMatch(page, /<script|<link|<img|https?:\/\/|url\(/i);
  for (const id of CHARTS)
    assert.match(page, new RegExp(`data-chart="${id}"><figcaption>[^<]*</figcaption><svg`));
});

void test('a run that stopped after download gets a report of what ran', async () => {
  const { input } = await demoRoot();
  const downloadOnly: RunFacts = { ...facts, quality: undefined, dedup: undefined, mixture: undefined };
  const stages = facts.stages.slice(0, 2).concat({ stage: 'report', startedAt: '2026-11-28T09:10:16.353Z' });
  const files = await writeRunReport(
    { ...input, run: { ...downloadOnly, stages }, mixOutput: undefined, stopAfter: 'download' },
    WRITTEN_AT,
  );
  const report = JSON.parse(readFileSync(files.json, 'utf8')) as RunReport;
  assert.deepEqual([report.quality, report.dedup, report.mixture], [null, null, null]);
  assert.equal(report.quarantined.total, 2);
  const page = readFileSync(files.html, 'utf8');
  assert.match(page, /stopped after download: no classifier/);
  assert.deepEqual(
    reportCharts(report).map((c) => c.id),
    ['stage-timings'],
  );
});

void test('the writeRunReport activity writes both files; an unsafe workflow id fails it for good', async () => {
  const { input } = await demoRoot();
  const env = new MockActivityEnvironment(undefined, { logger: quietLogger() });
  const write = activities.writeRunReport;
  const files = await env.run<[RunReportInput], RunReportFiles, typeof write>(write, {
    ...input,
    groundTruth: undefined,
  });
  assert.ok(existsSync(files.json) && existsSync(files.html));
  await assert.rejects(
    env.run(activities.writeRunReport, { ...input, workflowId: '../escape' }),
    (error: unknown) =>
      error instanceof ApplicationFailure && error.type === 'UnsafePath' && error.nonRetryable,
  );
});

const NUMBER = /-?[\d,]+(\.\d+)?/;

void test('the report renders in headless Chromium: charts drawn, numbers as in the manifest', async (t) => {
  const skip = browserSkipReason();
  if (skip) {
    t.skip(skip);
    return;
  }
  const { html, input } = await demoReport();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const url = pathToFileURL(html).href;
    const refused: string[] = [];
    await page.route(
      (u) => u.href !== url,
      (route) => {
        refused.push(route.request().url());
        return route.abort();
      },
    );
    await page.goto(url);
    const shot = path.join(path.dirname(html), 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
    if (process.env.CCMIX_UPDATE_DOCS === '1') copyFileSync(shot, path.join(REPO_ROOT, 'docs', 'report.png'));
    assert.deepEqual(refused, [], 'the page asks for nothing');

    for (const id of CHARTS) {
      const svg = page.locator(`figure[data-chart="${id}"] svg`);
      assert.equal(await svg.count(), 1, `${id}: one SVG`);
      const box = await svg.boundingBox();
      assert.ok(box && box.width > 200 && box.height > 100, `${id}: drawn at ${JSON.stringify(box)}`);
      const marks = await svg.locator('g.mark-rect path, g.mark-line path, g.mark-symbol path').count();
      assert.ok(marks > 0, `${id}: has marks`);
    }

    // Every mixture number shown equals the manifest's, to the precision shown.
    const shown = async (source: string, field: string): Promise<{ text: string; value: string | null }> => {
      const c = page.locator(`table.mixture td[data-source="${source}"][data-field="${field}"]`);
      return { text: (await c.innerText()).trim(), value: await c.getAttribute('data-value') };
    };
    for (const s of manifest.sources) {
      const expected: [string, number | null, number][] = [
        ['paperWeight', s.paper.weight, 0.00005],
        ['targetWeight', s.targetWeight, 0.00005],
        ['achievedWeight', s.achievedWeight, 0.00005],
        ['achievedPrefixWeight', s.achievedPrefixWeight, 0.00005],
        ['tokens', s.tokens, 0],
        ['rows', s.rows, 0],
        ['epochs', s.epochs, 0.005],
        ['paperEpochs', s.paper.epochs, 0.005],
      ];
      for (const [field, value, tolerance] of expected) {
        const cell = await shown(s.source, field);
        assert.equal(Number(cell.value), value, `${s.source} ${field}: data-value`);
        const number = Number(NUMBER.exec(cell.text)?.[0]?.replace(/,/g, ''));
        const scaled = cell.text.endsWith('%') ? number / 100 : number;
        assert.ok(
          Math.abs(scaled - (value ?? NaN)) <= tolerance,
          `${s.source} ${field}: shows ${cell.text}, manifest ${value}`,
        );
      }
      const paperTokens = await shown(s.source, 'paperTokens');
      assert.equal(paperTokens.text, `${s.paper.tokens / 1e9} B`);
    }
    const total = page.locator('[data-field="mixture-total"]');
    assert.equal(await total.getAttribute('data-rows'), String(manifest.rows));
    assert.match(
      await total.innerText(),
      new RegExp(`${(manifest.rows * manifest.nCtx).toLocaleString('en-US')} tokens`),
    );
    const gt = await page.locator('td[data-field="ground-truth-auc"]').innerText();
    assert.equal(gt.trim(), expectedTruth().auc.toFixed(3));
    assert.equal(await page.locator('table.quarantined tbody tr').count(), 2);
    assert.ok(input.groundTruth);
  } finally {
    await browser.close();
  }
});

void test('the README shows the report screenshot', () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  assert.match(readme, /## The run report[\s\S]*docs\/report\.png/);
  assert.ok(existsSync(path.join(REPO_ROOT, 'docs', 'report.png')), 'docs/report.png exists');
});
