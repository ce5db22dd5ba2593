/**
 * Download benchmark (not a test): ccmix's downloader against curl fetching the same files from
 * the same loopback mirror in the same run, at concurrency 1 and at the default, and the overhead
 * per file that Temporal adds (the same files through buildMixture vs the plain batch function).
 *
 *   node dist/test/bench/download.bench.js [--size 16]
 */
import { execFileSync } from 'node:child_process';
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
  return seconds(started);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { size: { type: 'string', default: '16' }, 'large-mib': { type: 'string', default: '32' } },
  });
  const size = Number(values.size);
  const crawlDir = tempDir('bench-crawl');
  const summary = await generateMiniCrawl({ outDir: crawlDir, size, seed: 5, crawls });
  const storage = new LocalStorage(crawlDir);
  const keys = (await storage.list('crawl-data/')).filter((k) => k.endsWith('.warc.wet.gz'));
  const mib = summary.bytes / 2 ** 20;
  const largeKeys: string[] = [];
  let largeBytes = 0;
  for (let i = 0; i < 4; i++) {
    const key = `crawl-data/${LARGE_CRAWL}/segments/1.0/wet/large-${i}.warc.wet.gz`;
    const body = gzipSync(incompressibleText(Number(values['large-mib']) * 2 ** 20, `large-${i}`), {
      level: 1,
    });
    mkdirSync(path.dirname(path.join(crawlDir, key)), { recursive: true });
    writeFileSync(path.join(crawlDir, key), body);
    largeKeys.push(key);
    largeBytes += body.length;
  }
  quietTemporalRuntime();
  const services = await startTestServices(['temporal', 'mirror'], crawlDir);
  const baseUrl = mirrorUrl(services.settings);
  const defaultParallel = parseConfig({}).download.maxConcurrentDownloads;
  try {
    await ccmixFetch(baseUrl, keys, 1); // warm-up: module loading and JIT are not what we measure
    const sets = [
      { label: `${keys.length} mini-crawl WET files (${mib.toFixed(1)} MiB)`, keys, mib },
      {
        label: `4 large files (${(largeBytes / 2 ** 20).toFixed(0)} MiB)`,
        keys: largeKeys,
        mib: largeBytes / 2 ** 20,
      },
    ];
    for (const set of sets) {
      for (const parallel of [1, defaultParallel]) {
        const curl = curlFetch(
          set.keys.map((k) => baseUrl + k),
          parallel,
        );
        const ours = await ccmixFetch(baseUrl, set.keys, parallel);
        console.log(
          `${set.label}, concurrency ${String(parallel).padStart(2)}: curl ${(set.mib / curl).toFixed(1)} MiB/s, ` +
            `ccmix (fetch + verify + sha256 + publish) ${(set.mib / ours).toFixed(1)} MiB/s, ratio ccmix/curl ${(curl / ours).toFixed(2)}`,
        );
      }
    }

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
