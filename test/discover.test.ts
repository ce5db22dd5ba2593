import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { parsePathsList, selectKeys, validateKeys } from '../core/discover';
import { sharedDataDir } from '../core/paths';

const crawl = 'CC-MAIN-2019-35';
const key = (seg: string, n: number): string =>
  `crawl-data/${crawl}/segments/${seg}/wet/CC-MAIN-20190817-${String(n).padStart(5, '0')}.warc.wet.gz`;

test('keys outside the crawl, traversal and absolute paths are rejected and counted', () => {
  const lines = [
    key('1566027313259.30', 0),
    '',
    `crawl-data/${crawl}/segments/1/wet/../../../../etc/passwd.warc.wet.gz`,
    `crawl-data/${crawl}/segments/1/wet/%2e%2e%2fx.warc.wet.gz`,
    '/etc/passwd',
    'https://evil.example/x.warc.wet.gz',
    `crawl-data/CC-MAIN-2016-07/segments/1/wet/a.warc.wet.gz`,
    `crawl-data/${crawl}/segments/1/warc/a.warc.gz`,
    key('1566027313259.30', 0),
  ];
  const result = validateKeys(crawl, lines);
  assert.deepEqual(result.valid, [key('1566027313259.30', 0)]);
  assert.equal(result.blankLines, 1);
  assert.deepEqual(result.rejected, {
    traversal: 2,
    absolute: 2,
    foreign_crawl: 1,
    not_wet: 1,
    duplicate: 1,
  });
  const total =
    result.valid.length + result.blankLines + Object.values(result.rejected).reduce((a, b) => a + b, 0);
  assert.equal(total, lines.length, 'every line is accounted for');
});

test('selection is deterministic, seed-dependent, nested and keeps list order', () => {
  const keys = Array.from({ length: 200 }, (_, i) => key(`seg${i % 7}`, i));
  const a = selectKeys(keys, { count: 20 }, 1);
  assert.deepEqual(a, selectKeys(keys, { count: 20 }, 1));
  assert.equal(a.length, 20);
  assert.notDeepEqual(a, selectKeys(keys, { count: 20 }, 2));
  assert.deepEqual(
    a,
    [...a].sort((x, y) => keys.indexOf(x) - keys.indexOf(y)),
  );
  const larger = new Set(selectKeys(keys, { count: 50 }, 1));
  assert.ok(
    a.every((k) => larger.has(k)),
    'a larger selection contains the smaller one',
  );
  assert.equal(selectKeys(keys, { fraction: 0.101 }, 1).length, 21, 'fractions round up');
  assert.equal(selectKeys(keys, { count: 1000 }, 1).length, 200);
  assert.ok(new Set(a.map((k) => k.split('/')[3])).size > 1, 'spread over segments');
});

test('a real paths listing validates (shared sample)', (t) => {
  const file = path.join(sharedDataDir(), 'paths', 'CC-MAIN-2020-50-wet.paths.sample-720');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    t.skip(`shared sample not present: ${file}`);
    return;
  }
  // The sample uses full https URLs; a real wet.paths.gz holds relative keys.
  const lines = text.split('\n').map((l) => l.replace(/^https:\/\/commoncrawl\.s3\.amazonaws\.com\//, ''));
  const result = validateKeys('CC-MAIN-2020-50', parsePathsList(gzipSync(lines.join('\n'))));
  assert.equal(result.valid.length, 720);
  assert.deepEqual(result.rejected, {});
  const asIs = validateKeys('CC-MAIN-2020-50', text.split('\n'));
  assert.equal(asIs.rejected.absolute, 720, 'absolute URLs are not keys');
});
