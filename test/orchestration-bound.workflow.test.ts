/**
 * The property that lets one crawl of 72,000 WET files run: downloadCrawl continues as new every
 * `batchesPerWorkflowRun` batches, each run's history stays under a bound that depends on that
 * setting alone, and the cursor carried across runs loses and repeats nothing. One crawl of tiny
 * files with five runs' worth of batches; test/bench/orchestration.bench.ts measures paper scale.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { startBuildMixture } from '../cli/client';
import { downloadWorkflowId } from '../config/temporal';
import { readInventory } from '../core/download/inventory';
import { LocalStorage } from '../core/storage';
import { mirrorUrl } from '../infra/services';
import type { BuildMixtureResult, DownloadCrawlResult } from '../workflows';
import { runHistories } from './helpers/histories';
import { startTestStack, tempDir, type TestServices, type TestStack } from './helpers/services';
import { writeTinyCrawls } from './helpers/tiny-crawl';

const CRAWL = 'CC-MAIN-2019-35';
const FILES_PER_ACTIVITY = 4;
const BATCHES_PER_RUN = 5;
const RUNS = 5;
const FILES = FILES_PER_ACTIVITY * BATCHES_PER_RUN * RUNS;
/**
 * A batch costs six events (activity scheduled, started, completed; the workflow task that
 * follows: scheduled, started, completed). A run adds a fixed number around them: its start and
 * first workflow task, the controls signal from the parent with its workflow task, the final
 * inventory activity with its workflow task, and the closing event. 40 covers that with room;
 * a history that grows with the crawl, or a batch that issues more commands, does not fit.
 */
const EVENTS_PER_BATCH = 6;
const FIXED_EVENTS_PER_RUN = 40;
const HISTORY_BOUND = EVENTS_PER_BATCH * BATCHES_PER_RUN + FIXED_EVENTS_PER_RUN;

let services: TestServices;
let client: Client;
let stack: TestStack;
let keys: string[];

before(async () => {
  const root = tempDir('bound-src');
  keys = writeTinyCrawls(root, [CRAWL], FILES).get(CRAWL) ?? [];
  stack = await startTestStack(['temporal', 'mirror'], root);
  ({ services, client } = stack);
});

after(() => stack?.stop());

test(`one crawl of ${RUNS} × ${BATCHES_PER_RUN} batches continues as new and stays under ${HISTORY_BOUND} events a run`, async (t) => {
  const storageRoot = tempDir('bound-root');
  const { workflowId } = await startBuildMixture(client, {
    name: 'bound',
    crawls: [CRAWL],
    source: { kind: 'http', baseUrl: mirrorUrl(services.settings) },
    wetFilesPerCrawl: { fraction: 1 },
    stopAfter: 'download',
    storageRoot,
    download: {
      filesPerActivity: FILES_PER_ACTIVITY,
      batchesPerWorkflowRun: BATCHES_PER_RUN,
      maxRequestsPerSecond: 100_000,
    },
  });
  const result = (await client.workflow.getHandle(workflowId).result()) as BuildMixtureResult;
  assert.equal(result.download.files, FILES);
  assert.equal(result.download.ok, FILES);

  // Follows the chain of runs to the last one's result.
  const crawlId = downloadWorkflowId(workflowId, CRAWL);
  const crawl = (await client.workflow.getHandle(crawlId).result()) as DownloadCrawlResult;
  assert.equal(crawl.workflowRuns, RUNS, 'one run per batchesPerWorkflowRun batches, no more, no fewer');

  const runs = (await runHistories(client, 'bound')).filter((r) => r.workflowId === crawlId);
  assert.equal(runs.length, RUNS, 'the server holds every run of the crawl workflow');
  assert.equal(
    runs.filter((r) => r.continuedAsNew).length,
    RUNS - 1,
    'every run but the last continued as new',
  );
  t.diagnostic(`events per run: ${runs.map((r) => r.events).join(', ')} (bound ${HISTORY_BOUND})`);
  for (const run of runs) {
    assert.ok(run.events <= HISTORY_BOUND, `run ${run.runId}: ${run.events} events > ${HISTORY_BOUND}`);
  }

  // The cursor carried across runs: every key exactly once in the merged inventory.
  const inventory = await readInventory(new LocalStorage(storageRoot), crawl.inventory);
  assert.deepEqual(inventory.map((r) => r.key).sort(), [...keys].sort());
  assert.ok(inventory.every((r) => r.status === 'ok'));
});
