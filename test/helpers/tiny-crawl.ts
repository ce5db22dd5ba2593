/**
 * Crawls of any size at almost no disk cost, for measuring orchestration: every key of a crawl is
 * a hard link to one tiny, valid WET file (a warcinfo record, gzipped), laid out in segments the
 * way Common Crawl lays them out. Only the workflows and the batching see the file count.
 */
import { linkSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

/** Real crawls of 2016–2019 have 100 segments. */
const SEGMENTS = 100;

function tinyWet(): Buffer {
  const body = 'software: ccmix tiny-crawl\r\n';
  const record =
    'WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Date: 2019-01-01T00:00:00Z\r\n' +
    'WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000000>\r\n' +
    `Content-Type: application/warc-fields\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
    `${body}\r\n\r\n`;
  return gzipSync(record);
}

/** ext4 allows 65,000 links to one inode: a new original every this many keys. */
const LINKS_PER_ORIGINAL = 50_000;

/**
 * Writes each crawl's wet.paths.gz under `root`, `files` keys long (a number, or one per crawl),
 * and its files unless `listingsOnly`; returns the keys per crawl.
 */
export function writeTinyCrawls(
  root: string,
  crawls: readonly string[],
  files: number | ((crawl: string) => number),
  { listingsOnly = false }: { listingsOnly?: boolean } = {},
): Map<string, string[]> {
  mkdirSync(path.join(root, 'originals'), { recursive: true });
  const wet = tinyWet();
  const keysByCrawl = new Map<string, string[]>();
  for (const crawl of crawls) {
    const keys: string[] = [];
    const count = typeof files === 'number' ? files : files(crawl);
    let original = '';
    for (let i = 0; i < count; i++) {
      const segment = `1500000000000.${String(i % SEGMENTS).padStart(2, '0')}`;
      const dir = path.join('crawl-data', crawl, 'segments', segment, 'wet');
      const key = `${dir}/${crawl}-${String(i).padStart(5, '0')}.warc.wet.gz`;
      keys.push(key);
      if (listingsOnly) continue;
      if (i % LINKS_PER_ORIGINAL === 0) {
        original = path.join(root, 'originals', `${crawl}-${i}.warc.wet.gz`);
        writeFileSync(original, wet);
      }
      if (i < SEGMENTS) mkdirSync(path.join(root, dir), { recursive: true });
      linkSync(original, path.join(root, key));
    }
    mkdirSync(path.join(root, 'crawl-data', crawl), { recursive: true });
    writeFileSync(path.join(root, 'crawl-data', crawl, 'wet.paths.gz'), gzipSync(keys.join('\n') + '\n'));
    keysByCrawl.set(crawl, keys);
  }
  return keysByCrawl;
}
