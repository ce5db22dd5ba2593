/**
 * Kill the worker process (SIGKILL) in the middle of a file, start a new one, and check that the
 * run completes byte-exactly and that only the bytes in flight since the last heartbeat were
 * fetched twice.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Client } from '@temporalio/client';
import { connectClient, startBuildMixture } from '../cli/client';
import { rawPathFor } from '../core/download/inventory';
import { REPO_ROOT } from '../core/paths';
import { mirrorUrl, temporalAddress } from '../infra/services';
import type { BuildMixtureResult } from '../workflows';
import { startTestServices, tempDir, type TestServices } from './helpers/services';

const crawl = 'CC-MAIN-2017-22';
const key = `crawl-data/${crawl}/segments/1495463607120.76/wet/CC-MAIN-20170522-00001.warc.wet.gz`;
const BYTES_PER_SECOND = 1_000_000;
const HEARTBEAT_TIMEOUT_S = 2;
let services: TestServices;
let client: Client;
let source: Buffer;
const workers: ChildProcess[] = [];

/** Text that gzip cannot shrink much, so the file is big on the wire. */
function incompressibleText(bytes: number): string {
  const parts: string[] = [];
  let block = createHash('sha256').update('seed').digest();
  for (let n = 0; n < bytes; n += 64) {
    block = createHash('sha256').update(block).digest();
    parts.push(block.toString('base64'), '\n');
  }
  return parts.join('');
}

function startWorker(): ChildProcess {
  const child = spawn(
    process.execPath,
    [path.join(REPO_ROOT, 'bin/ccmix.js'), 'worker', '--address', temporalAddress(services.settings)],
    {
      stdio: 'ignore',
    },
  );
  workers.push(child);
  return child;
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  const mirrorRoot = tempDir('resume-src');
  source = gzipSync(incompressibleText(6_000_000), { level: 1 });
  mkdirSync(path.dirname(path.join(mirrorRoot, key)), { recursive: true });
  writeFileSync(path.join(mirrorRoot, key), source);
  writeFileSync(path.join(mirrorRoot, 'crawl-data', crawl, 'wet.paths.gz'), gzipSync(`${key}\n`));
  services = await startTestServices(['temporal', 'mirror'], mirrorRoot);
  client = await connectClient(temporalAddress(services.settings));
});

after(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await client?.connection.close();
  await services?.stop();
});

test('SIGKILL mid-file: a new worker resumes from disk and the file is byte-exact', async (t) => {
  const faults = { bytesPerSecond: BYTES_PER_SECOND, keyPattern: '\\.warc\\.wet\\.gz$' };
  const put = await fetch(`${mirrorUrl(services.settings)}_mirror/faults`, {
    method: 'PUT',
    body: JSON.stringify(faults),
  });
  assert.equal(put.status, 200);
  const storageRoot = tempDir('resume-root');
  const partial = path.join(storageRoot, '_staging', 'download', rawPathFor(crawl, key));

  const first = startWorker();
  const { workflowId } = await startBuildMixture(client, {
    name: 'resume',
    crawls: [crawl],
    source: { kind: 'http', baseUrl: mirrorUrl(services.settings) },
    wetFilesPerCrawl: { fraction: 1 },
    stopAfter: 'download',
    storageRoot,
    download: {
      filesPerActivity: 1,
      heartbeatTimeoutSeconds: HEARTBEAT_TIMEOUT_S,
      maxRequestsPerSecond: 100,
    },
  });
  const sizeOf = (): number | undefined => {
    try {
      return statSync(partial).size;
    } catch {
      return undefined;
    }
  };
  await waitFor('a third of the file on disk', () =>
    (sizeOf() ?? 0) > source.length / 3 ? true : undefined,
  );
  first.kill('SIGKILL');
  await new Promise((resolve) => first.once('exit', resolve));
  const onDiskAtKill = sizeOf() ?? 0;

  startWorker();
  const result = (await client.workflow.getHandle(workflowId).result()) as BuildMixtureResult;
  assert.equal(result.download.ok, 1);

  const published = path.join(storageRoot, rawPathFor(crawl, key));
  const sha = (file: Buffer): string => createHash('sha256').update(file).digest('hex');
  assert.equal(sha(readFileSync(published)), sha(source));

  const stats = (await (await fetch(`${mirrorUrl(services.settings)}_mirror/stats`)).json()) as {
    bytesByKey: Record<string, number>;
    requestsByKey: Record<string, number>;
    byStatus: Record<string, number>;
  };
  const served = stats.bytesByKey[key] ?? 0;
  const fetchedTwice = served - source.length;
  // The SDK sends heartbeats at most every 0.8 × heartbeatTimeout; at the mirror's rate that is
  // the most that can be in flight, unrecorded, when the worker dies.
  const bound = BYTES_PER_SECOND * 0.8 * HEARTBEAT_TIMEOUT_S;
  t.diagnostic(
    `file ${source.length} B, on disk at kill ${onDiskAtKill} B, served ${served} B, fetched twice ${fetchedTwice} B ` +
      `(bound ${bound} B), requests ${stats.requestsByKey[key]}`,
  );
  assert.ok(stats.requestsByKey[key]! >= 2, 'the file took a second request');
  assert.ok(
    (stats.byStatus['206'] ?? 0) >= 1,
    `the second request was a range (206): ${JSON.stringify(stats.byStatus)}`,
  );
  assert.ok(fetchedTwice >= 0 && fetchedTwice <= bound, `fetched twice ${fetchedTwice} B > bound ${bound} B`);
  // A restart from zero fetches again every byte it had received, at least those on disk at the
  // kill (a third of the file): resuming fetches again only what had not reached the disk.
  assert.ok(
    fetchedTwice < onDiskAtKill && fetchedTwice < source.length,
    `fetched twice ${fetchedTwice} B, not less than the ${onDiskAtKill} B on disk at the kill`,
  );
});
