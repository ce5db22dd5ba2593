/**
 * Download benchmark (not a test): ccmix's downloader against its fair peer on the same files
 * from the same loopback mirror in the same run, at concurrency 1 and 16, on the miniature
 * crawl's small files and on 100 MiB files, and the overhead per file that Temporal adds (the
 * same files through buildMixture vs the plain batch function).
 *
 * The fair peer does the checks ccmix does: `curl | tee >(sha256sum) | gzip -t` per file, N
 * files at once (xargs -P N). Plain curl to /dev/null is printed too, as the wire's ceiling.
 *
 *   nice -n 10 node dist/test/bench/download.bench.js [--size 16] [--large-mib 100] [--large-files 16]
 */
// As bin/ccmix.js does for the worker: one libuv thread per file in flight for the gunzip.
process.env.UV_THREADPOOL_SIZE ??= '16';
import { execFileSync } from 'node:child_process';
import { linkSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connectClient, startBuildMixture } from '../../cli/client';
import { createWorker } from '../../cli/worker';
import { parseConfig } from '../../config/schema';
import { downloadBatch } from '../../core/download/batch';
import { generateMiniCrawl } from '../../core/minicrawl';
import { LocalStorage } from '../../core/storage';
import { mirrorUrl, temporalAddress } from '../../infra/services';
import type { BuildMixtureResult } from '../../workflows';
import { quietTemporalRuntime, startTestServices, tempDir } from '../helpers/services';

const crawls = ['CC-MAIN-2016-07', 'CC-MAIN-2017-30', 'CC-MAIN-2018-51', 'CC-MAIN-2019-13'];
/** Real WET files are 100–160 MiB: a second set of a few large files shows throughput, not per-file cost. */
const LARGE_CRAWL = 'CC-MAIN-2019-22';

/** Text gzip cannot shrink much, so a large file stays large on the wire. */
function incompressibleText(bytes: number, seed: string): string {
  const parts: string[] = [];
  let block = createHash('sha256').update(seed).digest();
  for (let n = 0; n < bytes; n += 44) {
    block = createHash('sha256').update(block).digest();
    parts.push(block.toString('base64'));
  }
  return parts.join('\n');
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

function curlFetch(urls: string[], parallel: number): number {
  const config = tempDir('curl');
  const file = path.join(config, 'urls.txt');
  writeFileSync(file, urls.map((u) => `url = "${u}"\noutput = "/dev/null"\n`).join(''));
  const started = process.hrtime.bigint();
  execFileSync(
    'curl',
    ['--silent', '--fail', '--parallel', '--parallel-max', String(parallel), '--config', file],
    { stdio: 'ignore' },
  );
  return seconds(started);
}

/** The fair peer: every file through curl, sha256sum and gzip -t, `parallel` files at once. */
function peerFetch(urls: string[], parallel: number): number {
  // The miniature crawl has broken files on purpose: gzip -t failing on them is its verdict.
  const pipeline = 'curl --silent --fail "$1" | tee >(sha256sum > /dev/null) | gzip -t 2> /dev/null || true';
  const started = process.hrtime.bigint();
  execFileSync('xargs', ['-P', String(parallel), '-n', '1', 'bash', '-c', pipeline, '_'], {
    input: urls.join('\n'),
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  return seconds(started);
}

async function ccmixFetch(baseUrl: string, keys: string[], parallel: number): Promise<number> {
  const storageRoot = tempDir('bench-root');
  const started = process.hrtime.bigint();
  const defaults = parseConfig({}).download;
  for (const crawl of [...crawls, LARGE_CRAWL].filter((c) => keys.some((k) => k.includes(c)))) {
    const crawlKeys = keys.filter((k) => k.includes(crawl));
    await new LocalStorage(storageRoot).write(`keys-${crawl}.txt`, crawlKeys.join('\n') + '\n');
    await downloadBatch({
      crawl,
      source: { kind: 'http', baseUrl },
      storageRoot,
      keysPath: `keys-${crawl}.txt`,
      listId: 'bench',
      batch: 0,
      batchSize: crawlKeys.length,
      parallelFiles: parallel,
      maxRequestsPerSecond: 1e6,
      retry: {
        maxTransientAttempts: defaults.maxTransientAttemptsPerFile,
        maxCorruptAttempts: 1,
        baseDelayMs: defaults.retryBaseDelayMs,
        maxDelayMs: defaults.retryMaxDelayMs,
      },
    });
  }
  const elapsed = seconds(started);
  rmSync(storageRoot, { recursive: true, force: true }); // 100 MiB files add up
  return elapsed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '16' },
      'large-mib': { type: 'string', default: '100' },
      'large-files': { type: 'string', default: '16' },
      // Shorter runs: `--sets large --no-temporal` measures the 100 MiB files only.
      sets: { type: 'string', default: 'small,large' },
      'no-temporal': { type: 'boolean', default: false },
    },
  });
  const size = Number(values.size);
  const crawlDir = tempDir('bench-crawl');
  const summary = await generateMiniCrawl({ outDir: crawlDir, size, seed: 5, crawls });
  const storage = new LocalStorage(crawlDir);
  const keys = (await storage.list('crawl-data/')).filter((k) => k.endsWith('.warc.wet.gz'));
  const mib = summary.bytes / 2 ** 20;
  const largeKeys: string[] = [];
  let largeBytes = 0;
  // One 100 MiB body under every large key (hard links): the mirror serves it from the page
  // cache, and each file still costs a full fetch, hash and gunzip on both sides.
  // Base64 text gzips to ~77 %: this much text makes a file of about --large-mib on the wire.
  const textBytes = (Number(values['large-mib']) * 2 ** 20) / 0.77;
  const body = gzipSync(incompressibleText(textBytes, 'large'), { level: 1 });
  for (let i = 0; i < Number(values['large-files']); i++) {
    const key = `crawl-data/${LARGE_CRAWL}/segments/1.0/wet/large-${i}.warc.wet.gz`;
    mkdirSync(path.dirname(path.join(crawlDir, key)), { recursive: true });
    if (i === 0) writeFileSync(path.join(crawlDir, key), body);
    else linkSync(path.join(crawlDir, largeKeys[0] as string), path.join(crawlDir, key));
    largeKeys.push(key);
    largeBytes += body.length;
  }
  quietTemporalRuntime();
  const services = await startTestServices(['temporal', 'mirror'], crawlDir);
  const baseUrl = mirrorUrl(services.settings);
  const defaultParallel = parseConfig({}).download.maxConcurrentDownloads; // 16
  try {
    await ccmixFetch(baseUrl, keys, 1); // warm-up: module loading and JIT are not what we measure
    const wanted = new Set(values.sets.split(','));
    const sets = [
      { name: 'small', label: `${keys.length} mini-crawl WET files (${mib.toFixed(1)} MiB)`, keys, mib },
      {
        name: 'large',
        label: `${largeKeys.length} files of ${(body.length / 2 ** 20).toFixed(0)} MiB`,
        keys: largeKeys,
        mib: largeBytes / 2 ** 20,
      },
    ].filter((set) => wanted.has(set.name));
    for (const set of sets) {
      for (const parallel of [1, defaultParallel]) {
        const urls = set.keys.map((k) => baseUrl + k);
        const curl = curlFetch(urls, parallel);
        const peer = peerFetch(urls, parallel);
        const ours = await ccmixFetch(baseUrl, set.keys, parallel);
        console.log(
          `${set.label}, concurrency ${String(parallel).padStart(2)}: curl alone ${(set.mib / curl).toFixed(1)} MiB/s, ` +
            `peer (curl | sha256sum, gzip -t) ${(set.mib / peer).toFixed(1)} MiB/s, ` +
            `ccmix (fetch + gunzip + sha256 + publish) ${(set.mib / ours).toFixed(1)} MiB/s, ` +
            `ccmix/peer ${(peer / ours).toFixed(2)}`,
        );
      }
    }

    if (values['no-temporal']) return;
    const plain = await ccmixFetch(baseUrl, keys, defaultParallel);
    const client = await connectClient(temporalAddress(services.settings));
    const { worker } = await createWorker({ address: temporalAddress(services.settings) });
    const running = worker.run();
    const started = process.hrtime.bigint();
    const { workflowId } = await startBuildMixture(client, {
      name: 'bench',
      crawls,
      source: { kind: 'http', baseUrl },
      wetFilesPerCrawl: { fraction: 1 },
      stopAfter: 'download',
      storageRoot: tempDir('bench-wf'),
      download: {
        maxConcurrentCrawls: crawls.length,
        maxConcurrentDownloads: defaultParallel,
        maxRequestsPerSecond: 1e6,
      },
    });
    const result = (await client.workflow.getHandle(workflowId).result()) as BuildMixtureResult;
    const viaTemporal = seconds(started);
    worker.shutdown();
    await running;
    await client.connection.close();
    const perFileMs = ((viaTemporal - plain) / result.download.files) * 1000;
    console.log(
      `through buildMixture (discover + child workflows + activities): ${viaTemporal.toFixed(2)} s vs plain ` +
        `${plain.toFixed(2)} s for ${result.download.files} files: ratio ${(viaTemporal / plain).toFixed(2)}, ` +
        `Temporal overhead ${perFileMs.toFixed(1)} ms per file`,
    );
  } finally {
    await services.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
