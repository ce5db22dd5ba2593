/** How crawls are cut into extraction jobs (core/extract-jobs.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extractJobs, type DownloadedCrawl } from '../core/extract-jobs';

const crawl = (id: string, bytes: number): DownloadedCrawl => ({
  crawl: id,
  inventory: `raw/${id}/inventory-x.parquet`,
  bytes,
});

void test('small neighbouring crawls share a job; the bound is never passed by a job of several', () => {
  const crawls = [crawl('A', 40), crawl('B', 50), crawl('C', 20), crawl('D', 90), crawl('E', 5)];
  const jobs = extractJobs(crawls, 100);
  // A+B+C would be 110: C starts the next job, and D (90) does not fit beside C (20).
  assert.deepEqual(
    jobs.map((j) => [j.key, j.crawls.map((c) => c.crawl)]),
    [
      ['A-to-B', ['A', 'B']],
      ['C', ['C']],
      ['D-to-E', ['D', 'E']],
    ],
  );
});

void test('a crawl larger than the bound is a job alone (the paper-scale case), named by the crawl', () => {
  const crawls = [crawl('CC-MAIN-2016-07', 1e12), crawl('CC-MAIN-2016-18', 1e12)];
  const jobs = extractJobs(crawls, 2 ** 30);
  assert.deepEqual(
    jobs.map((j) => j.key),
    ['CC-MAIN-2016-07', 'CC-MAIN-2016-18'],
  );
  assert.deepEqual(jobs[0]?.crawls, [crawls[0]], 'the job carries the crawl’s inventory');
});

void test('every crawl lands in exactly one job, in order', () => {
  const crawls = Array.from({ length: 41 }, (_, i) => crawl(`C${i}`, (i * 37) % 100));
  const jobs = extractJobs(crawls, 150);
  assert.deepEqual(
    jobs.flatMap((j) => j.crawls),
    crawls,
  );
  for (const job of jobs)
    if (job.crawls.length > 1) assert.ok(job.crawls.reduce((n, c) => n + c.bytes, 0) <= 150, job.key);
});
