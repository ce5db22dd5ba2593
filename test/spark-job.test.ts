/**
 * runSparkJob against real spark-submit (pyspark from the project's venv), no Temporal: commit
 * and skip, failure with the driver log's last lines, cancellation that leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { parseConfig } from '../config/schema';
import { generateMiniCrawl } from '../core/minicrawl';
import { LocalStorage } from '../core/storage';
import {
  runSparkJob,
  SparkBadInputError,
  SparkJobFailedError,
  type SparkJobInput,
} from '../core/spark/submit';
import type { SparkProgress } from '../core/spark/progress';
import { sparkProcessesFor, tempDir } from './helpers/services';

const spark = { ...parseConfig({}).spark, master: 'local[2]', driverMemory: '1g' };
let storageRoot: string;

function extractInput(extra: Partial<SparkJobInput> = {}): SparkJobInput {
  return {
    job: 'extract',
    stage: 'extract',
    storageRoot,
    inputs: [{ flag: '--input', paths: ['raw'], base: 'storage' }],
    params: { max_document_chars: 100_000 },
    spark,
    runId: 'spark-test',
    ...extra,
  };
}

before(async () => {
  storageRoot = tempDir('spark-root');
  // The WET files of a small miniature crawl, laid out as the download stage publishes them.
  const crawlDir = tempDir('spark-crawl');
  await generateMiniCrawl({
    outDir: crawlDir,
    size: 1,
    seed: 3,
    crawls: ['CC-MAIN-2017-13', 'CC-MAIN-2019-18'],
  });
  const from = new LocalStorage(crawlDir);
  const to = new LocalStorage(storageRoot);
  for (const key of (await from.list('crawl-data/')).filter((k) => k.endsWith('.warc.wet.gz'))) {
    await to.write(key.replace(/^crawl-data\//, 'raw/'), await from.read(key));
  }
});

test('a job runs into staging, commits with its metrics, and is skipped the second time', async () => {
  const progress: SparkProgress[] = [];
  const first = await runSparkJob(extractInput(), { onProgress: (p) => progress.push(p), pollMs: 500 });
  assert.equal(first.skipped, false);
  assert.ok(first.metrics.rows_in > 0);
  assert.equal(first.metrics.rows_in, first.metrics.rows_kept + first.metrics.rows_dropped);
  const storage = new LocalStorage(storageRoot);
  assert.ok(await storage.exists(`${first.stageDir}/_SUCCESS`));
  assert.ok((await storage.list(first.output)).some((f) => f.endsWith('.parquet')));
  assert.equal(existsSync(storage.uri(`${first.stageDir}/_staging`)), false);
  assert.ok(
    progress.some((p) => p.tasksTotal > 0),
    'progress came from Spark’s REST API',
  );
  assert.ok(existsSync(path.join(storageRoot, 'logs', 'spark-test', 'extract.log')));

  const second = await runSparkJob(extractInput());
  assert.equal(second.skipped, true);
  assert.deepEqual(second.metrics, first.metrics);
  assert.equal(second.stageDir, first.stageDir);
});

test('changed parameters make a different stage, not a reuse', async () => {
  const a = await runSparkJob(extractInput());
  const b = await runSparkJob(extractInput({ params: { max_document_chars: 5_000 } }));
  assert.notEqual(a.stageDir, b.stageDir);
  assert.equal(b.skipped, false);
});

test('an unusable input fails non-retryably with the last lines of the driver log', async () => {
  await assert.rejects(
    runSparkJob(
      extractInput({
        stage: 'extract-empty',
        inputs: [{ flag: '--input', paths: ['nothing-here'], base: 'storage' }],
      }),
    ),
    (error: unknown) => {
      assert.ok(error instanceof SparkBadInputError, String(error));
      assert.match(error.message, /exited 2/);
      assert.match(error.message, /extract:/, 'the job’s own one-line reason is in the message');
      return true;
    },
  );
});

test('cancelling kills the whole spark-submit process group and commits nothing', async () => {
  const controller = new AbortController();
  const input = extractInput({ stage: 'extract-cancelled', params: { max_document_chars: 77_777 } });
  const running = runSparkJob(input, { signal: controller.signal });
  const deadline = Date.now() + 60_000;
  while (sparkProcessesFor(storageRoot).length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(sparkProcessesFor(storageRoot).length > 0, 'spark-submit started');
  await new Promise((resolve) => setTimeout(resolve, 3000));
  controller.abort();
  await assert.rejects(running, SparkJobFailedError);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.deepEqual(sparkProcessesFor(storageRoot), [], 'no Spark process is left');
  const storage = new LocalStorage(storageRoot);
  const stageFiles = await storage.list('spark/extract-cancelled/');
  assert.deepEqual(stageFiles, [], `nothing committed or staged: ${stageFiles.join(', ')}`);
});
