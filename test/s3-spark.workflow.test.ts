/**
 * Every Spark stage of buildMixture with the storage root on S3 (the emulator on loopback):
 * downloads land in the bucket, Spark reads and writes it through S3A (`s3a://`), and every
 * stage commits there. Credentials reach Spark from the environment only.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { startBuildMixture } from '../cli/client';
import { REFERENCE_CORPORA } from '../config/schema';
import { generateMiniCrawl } from '../core/minicrawl';
import { S3Storage, s3Client } from '../core/storage';
import { mirrorUrl, s3Endpoint } from '../infra/services';
import type { BuildMixtureResult } from '../workflows';
import { startTestStack, tempDir, type TestStack } from './helpers/services';

const crawls = ['CC-MAIN-2018-17'];
let stack: TestStack;
let client: Client;
let crawlDir: string;

before(async () => {
  crawlDir = tempDir('s3-spark-crawl');
  await generateMiniCrawl({ outDir: crawlDir, size: 1, seed: 5, crawls });
  stack = await startTestStack(['temporal', 'mirror', 's3'], crawlDir);
  client = stack.client;
  process.env.AWS_ACCESS_KEY_ID ??= 'testing';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
  process.env.AWS_ENDPOINT_URL_S3 = s3Endpoint(stack.services.settings);
});

after(() => stack?.stop());

test('every Spark stage runs and commits with the storage root on S3', async () => {
  // A bucket of its own: a long-lived job server keeps one S3A client per bucket.
  const bucket = `ccmix-spark-${Date.now().toString(36)}`;
  await s3Client().send(new CreateBucketCommand({ Bucket: bucket }));
  const storageRoot = `s3://${bucket}/runs`;
  const { workflowId } = await startBuildMixture(client, {
    name: 's3-spark',
    crawls,
    source: { kind: 'http', baseUrl: mirrorUrl(stack.services.settings) },
    wetFilesPerCrawl: { fraction: 1 },
    storageRoot,
    referenceCorpora: Object.fromEntries(
      REFERENCE_CORPORA.map((c) => [c, { path: path.join(crawlDir, 'reference', c), format: 'jsonl' }]),
    ),
    classifier: { maxTrainingDocsPerClass: 2000 },
    spark: { master: 'local[2]', driverMemory: '1g' },
    // One crawl's few kept pages hold less than one 2048-id row of Common Crawl: the mixture is
    // tested on a local root (test/quality.workflow.test.ts) and verified on S3 in mix-verify.
    stopAfter: 'dedup',
  });
  const result = (await client.workflow.getHandle(workflowId).result()) as BuildMixtureResult;
  const q = result.quality;
  assert.ok(q, 'the Spark stages ran');
  const extracted = q.extract[crawls[0] as string];
  assert.ok(extracted && extracted.rowsKept > 0, 'documents extracted from the bucket');
  for (const name of REFERENCE_CORPORA) assert.ok((q.references[name]?.rowsKept ?? 0) > 0, name);
  assert.equal(q.filter.rowsIn, extracted.rowsKept);
  assert.ok(q.filter.rowsKept > 0 && q.filter.rowsKept < q.filter.rowsIn);

  // Every stage's marker and data are objects in the bucket, and nothing was written locally.
  const storage = new S3Storage(storageRoot, s3Client());
  const keys = await storage.list('spark/');
  // Stage markers only (`spark/<stage>/<fingerprint>/_SUCCESS`), not Spark's own inside outputs.
  const committed = keys.filter((k) => /^spark\/[^/]+\/[^/]+\/_SUCCESS$/.test(k)).map((k) => k.split('/')[1]);
  assert.deepEqual(
    committed.sort(),
    [
      `extract-${crawls[0]}`,
      'dedup',
      'quality-filter',
      ...REFERENCE_CORPORA.map((c) => `reference-${c}`),
      'train-classifier',
    ].sort(),
  );
  assert.ok(result.dedup && result.dedup.rowsKept > 0, 'dedup kept documents');
  for (const stage of [extracted, q.filter, { output: `${result.dedup.output}/commonCrawl` }]) {
    assert.ok(
      keys.some((k) => k.startsWith(`${stage.output}/kind=doc/`) && k.endsWith('.parquet')),
      `${stage.output} holds Parquet in the bucket`,
    );
  }
  assert.ok(
    keys.some((k) => k.startsWith(`${q.classifier.output}/model/`)),
    'the model is in the bucket',
  );
});
