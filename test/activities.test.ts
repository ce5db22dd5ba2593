/** The activity shells alone, in the SDK's mock activity environment (no server). */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import * as activities from '../activities';
import { quietLogger, tempDir } from './helpers/services';

const crawl = 'CC-MAIN-2016-07';
const notGzipCrawl = 'CC-MAIN-2018-05';
let server: Server;
let baseUrl: string;

before(async () => {
  // A fake source at the edge this test is not about: it only answers one paths list.
  const body = gzipSync(`crawl-data/${crawl}/segments/1.2/wet/a.warc.wet.gz\n`);
  server = createServer((req, res) => {
    if (req.url === `/crawl-data/${crawl}/wet.paths.gz`) res.end(body);
    else if (req.url === `/crawl-data/${notGzipCrawl}/wet.paths.gz`) res.end('<html>503</html>');
    else res.writeHead(req.url?.includes('forbidden') ? 403 : 404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
});
after(() => server.close());

const input = (c: string, storageRoot: string) => ({
  source: { kind: 'http' as const, baseUrl },
  crawl: c,
  selection: { count: 10 },
  seed: 1,
  storageRoot,
});

type Discovered = Awaited<ReturnType<typeof activities.discoverCrawl>>;
const runDiscover = async (root: string, c = crawl): Promise<Discovered> =>
  new MockActivityEnvironment(undefined, { logger: quietLogger() }).run<
    [ReturnType<typeof input>],
    Discovered,
    typeof activities.discoverCrawl
  >(activities.discoverCrawl, input(c, root));

test('discoverCrawl returns counts and a path, never the key list', async () => {
  const root = tempDir('act');
  const result = await runDiscover(root);
  assert.equal(result.selected, 1);
  assert.equal(result.skipped, false);
  assert.match(result.keysPath, /^discover\/[0-9a-f]{16}\/CC-MAIN-2016-07\/wet-keys\.txt$/);
  assert.equal(Object.keys(result).includes('keys'), false);
  const again = await runDiscover(root);
  assert.equal(again.skipped, true);
});

test('a missing paths list is a non-retryable SourceObjectMissing failure', async () => {
  await assert.rejects(runDiscover(tempDir('act'), 'CC-MAIN-2017-04'), (error: unknown) => {
    assert.ok(error instanceof ApplicationFailure);
    assert.equal(error.type, 'SourceObjectMissing');
    assert.equal(error.nonRetryable, true);
    return true;
  });
});

test('a paths list that is not gzip is a non-retryable BadPathsList failure naming the list', async () => {
  await assert.rejects(runDiscover(tempDir('act'), notGzipCrawl), (error: unknown) => {
    assert.ok(error instanceof ApplicationFailure);
    assert.equal(error.type, 'BadPathsList');
    assert.equal(error.nonRetryable, true);
    assert.match(error.message, /crawl-data\/CC-MAIN-2018-05\/wet\.paths\.gz is not a whole gzip file/);
    return true;
  });
});

test('a storage root that cannot be written is an ordinary (retryable) error', async () => {
  const root = tempDir('act');
  mkdirSync(path.join(root, 'blocked'));
  writeFileSync(path.join(root, 'blocked', 'discover'), 'a file where a folder should be');
  await assert.rejects(runDiscover(path.join(root, 'blocked')), (error: unknown) => {
    assert.ok(!(error instanceof ApplicationFailure), 'not made non-retryable');
    assert.equal((error as NodeJS.ErrnoException).code, 'ENOTDIR');
    return true;
  });
});

test('a path that would leave the storage root is a non-retryable UnsafePath failure', async () => {
  await assert.rejects(
    new MockActivityEnvironment(undefined, { logger: quietLogger() }).run(activities.downloadBatch, {
      crawl,
      source: { kind: 'http' as const, baseUrl },
      storageRoot: tempDir('act'),
      keysPath: '../outside/keys.txt',
      listId: 'x',
      batch: 0,
      batchSize: 1,
      parallelFiles: 1,
      maxRequestsPerSecond: 10,
      retry: { maxTransientAttempts: 1, maxCorruptAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    }),
    (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'UnsafePath');
      assert.equal(error.nonRetryable, true);
      return true;
    },
  );
});
