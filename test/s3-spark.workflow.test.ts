/**
 * Every Spark stage of buildMixture with the storage root on S3 (the emulator on loopback):
 * downloads land in the bucket, Spark reads and writes it through S3A (`s3a://`), and every
 * stage commits there. Credentials reach Spark from the environment only, and the secret key of
 * the run appears in no workflow history, log or file it leaves behind.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { startBuildMixture } from '../cli/client';
import { REFERENCE_CORPORA } from '../config/schema';
import { CCMIX_HOME } from '../core/paths';
import { generateMiniCrawl } from '../core/minicrawl';
import { S3Storage, s3Client } from '../core/storage';
import { mirrorUrl, s3Endpoint } from '../infra/services';
import type { BuildMixtureResult } from '../workflows';
import { startTestStack, tempDir, type TestStack } from './helpers/services';

const crawls = ['CC-MAIN-2018-17'];
// The emulator accepts any key pair: a value found nowhere else makes the search below meaningful.
const SECRET = `ccmixCanary${randomBytes(12).toString('hex')}`;
let stack: TestStack;
let client: Client;
let crawlDir: string;
let run: { workflowId: string; storageRoot: string; startedMs: number } | undefined;
// What this process (the in-process worker included) writes to stdout and stderr during the tests.
const captured: string[] = [];
type Write = (...args: unknown[]) => boolean;
const writes = {
  out: process.stdout.write.bind(process.stdout) as Write,
  err: process.stderr.write.bind(process.stderr) as Write,
};

function capture(stream: NodeJS.WriteStream, write: Write): void {
  stream.write = (chunk: unknown, ...rest: unknown[]) => {
    captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return write(chunk, ...rest);
  };
}

before(async () => {
  capture(process.stdout, writes.out);
  capture(process.stderr, writes.err);
  // Set before the services start, so that every process of the run inherits it.
  process.env.AWS_ACCESS_KEY_ID = 'ccmix-test-access-key';
  process.env.AWS_SECRET_ACCESS_KEY = SECRET;
  crawlDir = tempDir('s3-spark-crawl');
  await generateMiniCrawl({ outDir: crawlDir, size: 1, seed: 5, crawls });
  stack = await startTestStack(['temporal', 'mirror', 's3'], crawlDir);
  client = stack.client;
  process.env.AWS_ENDPOINT_URL_S3 = s3Endpoint(stack.services.settings);
});

after(async () => {
  process.stdout.write = writes.out;
  process.stderr.write = writes.err;
  await stack?.stop();
});

test('every Spark stage runs and commits with the storage root on S3', async () => {
  // A bucket of its own: a long-lived job server keeps one S3A client per bucket.
  const bucket = `ccmix-spark-${Date.now().toString(36)}`;
  await s3Client().send(new CreateBucketCommand({ Bucket: bucket }));
  const storageRoot = `s3://${bucket}/runs`;
  const startedMs = Date.now();
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
    // One crawl's few kept pages hold less than one 2048-id row of Common Crawl, so the mixture is
    // WebText2's alone: 8 rows in 2 files, each file written by its own task straight to its key.
    mixture: {
      weights: { commonCrawl: 0, webtext2: 1, books1: 0, books2: 0, wikipedia: 0 },
      totalTokens: 8 * 2048,
      rowsPerFile: 4,
    },
  });
  run = { workflowId, storageRoot, startedMs };
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
      'mix',
      'mix-count',
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

  // Spark committed its document outputs through S3A's magic committer (each file uploaded once,
  // to its final key): their `_SUCCESS` is S3A's JSON summary, where the rename-based default
  // leaves an empty one, and no commit left `_temporary/` or `__magic` folders behind.
  const dedupOut = result.dedup.output;
  for (const output of [
    extracted.output,
    q.filter.output,
    `${dedupOut}/commonCrawl/kind=doc`,
    `${dedupOut}/clusters`,
  ]) {
    const summary = JSON.parse((await storage.read(`${output}/_SUCCESS`)).toString('utf8')) as {
      committer?: string;
    };
    assert.equal(summary.committer, 'magic', output);
  }
  assert.deepEqual(
    keys.filter((k) => /\/(_temporary|__magic[^/]*)\//.test(k)),
    [],
  );

  // The mixture's files are objects under their final names, verified by DuckDB from the bucket.
  const mixture = result.mixture;
  assert.ok(mixture, 'the mixture was made');
  assert.ok(mixture.data.startsWith(`${storageRoot}/`), mixture.data);
  const data = mixture.data.slice(storageRoot.length + 1);
  assert.deepEqual(
    keys.filter((k) => k.startsWith(`${data}/`)).map((k) => k.slice(data.length + 1)),
    ['train-00000-of-00002.parquet', 'train-00001-of-00002.parquet'],
  );
  assert.equal(mixture.rows, 8);
  assert.deepEqual(
    mixture.checks.filter((c) => !c.ok),
    [],
  );
  // The decode check read the document files the job's provenance.json named (indices into the
  // listing of s3a:// paths Spark saw), and no other.
  assert.match(
    mixture.checks.find((c) => c.check === 'decode')?.detail ?? '',
    /document files: those provenance\.json names\)$/,
  );
});

/** Every string in a value, with bytes (Temporal payloads) decoded as UTF-8. */
function textOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) for (const v of value) textOf(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) textOf(v, out);
  return out;
}

/** Files under `dir` changed since `sinceMs` (missing folder: none). */
function filesSince(dir: string, sinceMs: number): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    return [];
  }
  return entries
    .map((e) => path.join(dir, e))
    .filter((f) => statSync(f).isFile() && statSync(f).mtimeMs >= sinceMs);
}

test('the S3 secret key is in no workflow history, log, report or file of the run', async () => {
  assert.ok(run, 'the S3 run above started');
  const { workflowId, storageRoot, startedMs } = run;
  const places: Array<[string, string]> = [];

  // The run, its children and their continued runs: this test's own Temporal server holds only these.
  const histories: string[] = [];
  for await (const execution of client.workflow.list()) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    histories.push(textOf(history).join('\n'));
  }
  assert.ok(histories.length > 1, `the run and its children: ${histories.length} histories`);
  const allHistories = histories.join('\n');
  // The payloads were decoded: the config's storage root is in the run's input.
  assert.ok(allHistories.includes(storageRoot), 'workflow inputs are readable in the histories');
  assert.ok(allHistories.includes(workflowId));
  places.push(['workflow histories', allHistories]);

  places.push(["this process's stdout and stderr", captured.join('')]);
  const logs = [
    ...filesSince(stack.services.settings.stateDir, startedMs).filter((f) => f.endsWith('.log')),
    ...filesSince(path.join(CCMIX_HOME, 'logs'), startedMs),
  ];
  assert.ok(logs.length > 0, 'service and Spark logs were found');
  for (const file of logs) places.push([file, readFileSync(file, 'utf8')]);

  // Every object the run left under the storage root: markers, metrics, params, reports, data.
  const storage = new S3Storage(storageRoot, s3Client());
  const keys = await storage.list('');
  assert.ok(
    keys.some((k) => k.endsWith('_SUCCESS')) && keys.some((k) => k.endsWith('.json')),
    'markers and JSON',
  );
  let bytes = 0;
  for (const key of keys) {
    const data = await storage.read(key);
    bytes += data.length;
    places.push([`${storageRoot}/${key}`, Buffer.from(data).toString('latin1')]);
  }
  const leaks = places.filter(([, text]) => text.includes(SECRET)).map(([where]) => where);
  assert.deepEqual(leaks, [], `the secret key appears in ${leaks.join(', ')}`);
  // The search reads what it searches: metrics JSON is among the objects.
  assert.ok(bytes > 0 && places.some(([w, t]) => w.endsWith('.json') && t.includes('"rows_in"')));
});
