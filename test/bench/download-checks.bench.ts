/**
 * CPU per core of what the downloader does to every byte (sha256 and a full gunzip), for
 * infra/SIZING.md (not a test). The input is the real Common Crawl WET sample in shared/data,
 * repeated to ~100 MB, one gzip member per record as in real WET files.
 *
 *   node dist/test/bench/download-checks.bench.js [--copies 100]
 */
import { createReadStream, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { sharedDataDir } from '../../core/paths';
import { tempDir } from '../helpers/services';

const SAMPLE = path.join(sharedDataDir(), 'wet', 'CC-MAIN-2020-50-head.warc.wet.gz');

async function checkOnce(file: string): Promise<number> {
  const started = process.hrtime.bigint();
  const hash = createHash('sha256');
  const gunzip = createGunzip();
  gunzip.resume();
  const ended = new Promise((resolve) => gunzip.on('end', resolve));
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    if (!gunzip.write(chunk)) await new Promise((resolve) => gunzip.once('drain', resolve));
  }
  gunzip.end();
  await ended;
  hash.digest();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { copies: { type: 'string', default: '100' } } });
  if (!existsSync(SAMPLE)) throw new Error(`${SAMPLE} is missing (shared/data)`);
  const dir = tempDir('checks');
  const file = path.join(dir, 'sample.warc.wet.gz');
  const sample = readFileSync(SAMPLE);
  writeFileSync(file, Buffer.concat(Array.from({ length: Number(values.copies) }, () => sample)));
  const mb = statSync(file).size / 1e6;
  const seconds = Math.min(await checkOnce(file), await checkOnce(file), await checkOnce(file));
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ mb, seconds, mbPerSecondPerCore: mb / seconds }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
