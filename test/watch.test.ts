/** `ccmix status --watch`'s bars: one per crawl while they fit, one summary bar when they do not. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunStatus } from '../cli/client';
import { renderProgress } from '../cli/render';
import { watchRows } from '../cli/watch';
import { emptyProgress } from '../workflows/progress';
import type { DownloadCrawlProgress } from '../workflows';

function downloading(crawls: number): RunStatus {
  const progress = emptyProgress();
  progress.stage = 'download';
  progress.discover = { done: crawls, total: crawls };
  progress.download = { done: 0, total: crawls };
  progress.spark['reference-webtext2'] = { state: 'done', rowsIn: 10, rowsKept: 9 };
  const downloads = Array.from({ length: crawls }, (_, i) => ({
    crawl: `CC-MAIN-2019-${String(i).padStart(2, '0')}`,
    files: i,
    filesTotal: 100,
    bytes: 2 ** 20,
    retries: 0,
    rate: 10,
  })) as unknown as DownloadCrawlProgress[];
  return { workflowId: 'w', status: 'RUNNING', progress, downloads, sparkLive: null, verifyLive: null };
}

void test('crawls that fit get a bar each', () => {
  const rows = watchRows(downloading(4), 20);
  assert.deepEqual(
    rows.map((r) => r.key),
    [
      'discover',
      'download',
      ...downloading(4).downloads.map((d) => `crawl:${d.crawl}`),
      'spark:reference-webtext2',
    ],
  );
  assert.deepEqual(
    rows.filter((r) => r.key.startsWith('crawl:')).map((r) => [r.value, r.total]),
    [
      [0, 100],
      [1, 100],
      [2, 100],
      [3, 100],
    ],
  );
});

void test('41 crawls in a short terminal collapse into one bar that sums them', () => {
  const rows = watchRows(downloading(41), 20);
  assert.ok(rows.length <= 20);
  const summary = rows.find((r) => r.key === 'crawls');
  assert.ok(summary, 'one summary bar');
  assert.equal(summary.total, 4100);
  assert.equal(summary.value, (40 * 41) / 2);
  assert.equal(rows.filter((r) => r.key.startsWith('crawl:')).length, 0);
});

void test('plain status says when a run is paused and which limits it obeys', () => {
  const status = downloading(2);
  status.progress.paused = true;
  status.progress.limits = { maxConcurrentDownloads: 8, maxRequestsPerSecond: 5 };
  const text = renderProgress(status.progress);
  assert.match(text.split('\n')[0] ?? '', /PAUSED/);
  assert.match(text, /limits: 8 files in flight, 5 requests\/s/);
  status.progress.paused = false;
  assert.doesNotMatch(renderProgress(status.progress), /PAUSED/);
});

void test('while the mixture is verified, status shows how many data files the scan has read', () => {
  const status = downloading(0);
  status.progress.stage = 'verify';
  status.verifyLive = { scanned: 1204, dataFiles: 2930 };
  const row = watchRows(status, 20).find((r) => r.key === 'verify');
  assert.deepEqual([row?.value, row?.total, row?.detail], [1204, 2930, 'data files scanned']);
  const text = renderProgress(status.progress, [], null, status.verifyLive);
  assert.match(text, /verify \[#+\.+\] 1204\/2930 data files scanned/);
  assert.doesNotMatch(renderProgress(status.progress), /data files scanned/);
});
