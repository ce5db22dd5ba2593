import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_CRAWLS } from '../config/crawls';
import { ConfigError, parseConfig, TABLE_2_2_WEIGHTS } from '../config/schema';
import { REPO_ROOT } from '../core/paths';

function issuesOf(input: unknown): Map<string, string> {
  try {
    parseConfig(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError, 'a ConfigError');
    return new Map(error.issues.map((i) => [i.path, i.message]));
  }
  assert.fail('expected the config to be rejected');
}

test('an empty object gets the paper defaults', () => {
  const config = parseConfig({});
  assert.equal(config.crawls.length, 41);
  assert.deepEqual(config.crawls, [...DEFAULT_CRAWLS]);
  assert.equal(config.crawls[0], 'CC-MAIN-2016-07');
  assert.deepEqual(config.source, { kind: 'http', baseUrl: 'https://data.commoncrawl.org/' });
  assert.equal(config.pareto.alpha, 9);
  assert.equal(config.dedup.numHashes, 10);
  assert.equal(config.classifier.numFeatures, 262144);
  assert.deepEqual(config.mixture.weights, TABLE_2_2_WEIGHTS);
  assert.equal(config.mixture.nCtx, 2048);
  assert.equal(config.mixture.endOfTextToken, 50256);
  assert.equal(config.mixture.totalTokens, 300e9);
});

test('the example configs in config/examples are valid', () => {
  for (const name of ['demo.json', 'paper.json']) {
    const raw = JSON.parse(readFileSync(path.join(REPO_ROOT, 'config/examples', name), 'utf8')) as unknown;
    const config = parseConfig(raw);
    assert.ok(config.name.length > 0, name);
  }
});

test('every bad field is named, not only the first', () => {
  const issues = issuesOf({
    crawls: ['CC-MAIN-2016-07', 'not-a-crawl'],
    source: { kind: 'ftp' },
    wetFilesPerCrawl: { fraction: 1.5 },
    pareto: { alpha: -1 },
    dedup: { numHashes: 10, bands: 3 },
    mixture: { nCtx: 0 },
    spark: { driverMemory: 'lots' },
  });
  for (const field of [
    'crawls.1',
    'source.kind',
    'wetFilesPerCrawl.fraction',
    'pareto.alpha',
    'dedup.bands',
    'mixture.nCtx',
    'spark.driverMemory',
  ]) {
    assert.ok(issues.has(field), `${field} is named in ${JSON.stringify([...issues.keys()])}`);
  }
});

test('unknown fields are rejected, so credentials cannot be smuggled into workflow input', () => {
  const issues = issuesOf({ source: { kind: 's3', bucket: 'commoncrawl', secretAccessKey: 'x' }, typo: 1 });
  assert.match(issues.get('source') ?? '', /secretAccessKey/);
  assert.match(issues.get('(root)') ?? '', /typo/);
});

test('duplicate crawls, wrong types and bad storage URLs are reported', () => {
  const issues = issuesOf({
    crawls: ['CC-MAIN-2016-07', 'CC-MAIN-2016-07'],
    seed: 'x',
    source: { kind: 'http', baseUrl: 'nope' },
  });
  assert.match(issues.get('crawls') ?? '', /unique/);
  assert.ok(issues.has('seed'));
  assert.ok(issues.has('source.baseUrl'));
});

test('the error message lists every field for the Temporal UI', () => {
  assert.throws(
    () => parseConfig({ seed: -1, name: 'UPPER' }),
    (error: Error) => {
      assert.match(error.message, /seed:/);
      assert.match(error.message, /name:/);
      return true;
    },
  );
});

test('credentials are refused wherever the config could carry them', () => {
  // Regression: spark.conf took any key, and URLs any user info, into histories and the manifest.
  const refused = [
    { spark: { conf: { 'spark.hadoop.fs.s3a.secret.key': 'x' } } },
    { spark: { conf: { 'spark.hadoop.fs.s3a.bucket.b.access.key': 'x' } } },
    { spark: { conf: { 'spark.hadoop.fs.s3a.session.token': 'x' } } },
    { source: { kind: 'http', baseUrl: 'https://user:pw@mirror.example/' } },
    { source: { kind: 's3', endpoint: 'http://key:secret@127.0.0.1:9000' } },
  ];
  for (const input of refused)
    assert.throws(() => parseConfig(input), /credentials never go in the config/, JSON.stringify(input));
  const provider = 'spark.hadoop.fs.s3a.aws.credentials.provider';
  const config = parseConfig({
    spark: { conf: { [provider]: 'com.amazonaws.auth.EnvironmentVariableCredentialsProvider' } },
  });
  assert.ok(provider in config.spark.conf, 'naming a credentials provider is not a credential');
});
