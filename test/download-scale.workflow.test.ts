/**
 * Scale of orchestration: 41 crawls × 96 tiny files, 8 batches a crawl, through the real
 * workflows. Every workflow run's history must stay under HISTORY_BOUND events however many files
 * a crawl has, because downloadCrawl continues as new every `batchesPerWorkflowRun` batches. (The
 * history depends on batches, not files; test/bench/orchestration.bench.ts measures 41 × 1,800.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Client } from '@temporalio/client';
import { DEFAULT_CRAWLS } from '../config/crawls';
import { startBuildMixture } from '../cli/client';
import { mirrorUrl } from '../infra/services';
import type { BuildMixtureResult } from '../workflows';
import { startTestStack, tempDir, type TestServices, type TestStack } from './helpers/services';

const FILES_PER_CRAWL = 96;
const HISTORY_BOUND = 1000;
let services: TestServices;
let client: Client;
let stack: TestStack;

before(async () => {
  const root = tempDir('scale-src');
  const tiny = gzipSync('WARC/1.0\r\n');
  for (const crawl of DEFAULT_CRAWLS) {
    const segment = path.join(root, 'crawl-data', crawl, 'segments', '1.0', 'wet');
    mkdirSync(segment, { recursive: true });
    const keys: string[] = [];
    for (let i = 0; i < FILES_PER_CRAWL; i++) {
      const name = `f${String(i).padStart(5, '0')}.warc.wet.gz`;
      writeFileSync(path.join(segment, name), tiny);
      keys.push(`crawl-data/${crawl}/segments/1.0/wet/${name}`);
    }
    writeFileSync(path.join(root, 'crawl-data', crawl, 'wet.paths.gz'), gzipSync(keys.join('\n') + '\n'));
  }
  stack = await startTestStack(['temporal', 'mirror'], root);
  ({ services, client } = stack);
});

after(() => stack?.stop());

test(`41 crawls × ${FILES_PER_CRAWL} files: every history stays under ${HISTORY_BOUND} events`, async (t) => {
  const started = Date.now();
  const { workflowId } = await startBuildMixture(client, {
    name: 'scale',
    source: { kind: 'http', baseUrl: mirrorUrl(services.settings) },
    wetFilesPerCrawl: { fraction: 1 },
    stopAfter: 'download',
    storageRoot: tempDir('scale-root'),
    download: {
      maxConcurrentCrawls: 8,
      maxConcurrentDownloads: 32,
      filesPerActivity: 12,
      batchesPerWorkflowRun: 2,
      maxRequestsPerSecond: 100_000,
    },
  });
  const result = (await client.workflow.getHandle(workflowId).result()) as BuildMixtureResult;
  const seconds = (Date.now() - started) / 1000;
  assert.equal(result.crawls, 41);
  assert.equal(result.download.files, 41 * FILES_PER_CRAWL);
  assert.equal(result.download.ok, 41 * FILES_PER_CRAWL);

  const sizes: { id: string; events: number }[] = [];
  for await (const execution of client.workflow.list({ query: `CcmixRun = 'scale'` })) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    sizes.push({ id: `${execution.workflowId}/${execution.runId}`, events: history.events?.length ?? 0 });
  }
  sizes.sort((a, b) => b.events - a.events);
  const largest = sizes[0];
  t.diagnostic(
    `${result.download.files} files in ${seconds.toFixed(1)} s; ${sizes.length} workflow runs; ` +
      `largest history ${largest?.events} events (${largest?.id})`,
  );
  assert.ok(sizes.length >= 1 + 41 * 4, `every crawl continued as new (runs: ${sizes.length})`);
  assert.ok(largest && largest.events < HISTORY_BOUND, `largest history ${largest?.events} events`);
});
