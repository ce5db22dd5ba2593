import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  BadPathsListError,
  discoverCrawl,
  discoverStageDir,
  parsePathsList,
  pathsListKey,
  selectKeys,
  validateKeys,
  type DiscoverInput,
} from '../core/discover';
import { sharedDataDir } from '../core/paths';
import { tempDir } from './helpers/services';

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

test('encoded, backslashed and double-encoded traversal never yields a key', () => {
  const dir = `crawl-data/${crawl}/segments/1/wet`;
  const lines = [
    `${dir}/..%2f..%2f..%2fetc%2fpasswd.warc.wet.gz`,
    `${dir}/%2E%2E/%2E%2E/x.warc.wet.gz`,
    `${dir}/%252e%252e%252fx.warc.wet.gz`,
    `${dir}/..\\..\\x.warc.wet.gz`,
    `${dir}/./x.warc.wet.gz`,
    `crawl-data/${crawl}/../CC-MAIN-2016-07/segments/1/wet/x.warc.wet.gz`,
    `C:\\x.warc.wet.gz`,
    `//evil.example/x.warc.wet.gz`,
  ];
  const result = validateKeys(crawl, lines);
  assert.deepEqual(result.valid, []);
  assert.deepEqual(result.rejected, { traversal: 6, absolute: 2 });
});

test("a rejected line's example is shortened: the examples travel in the activity's result", () => {
  const huge = `crawl-data/${crawl}/${'x'.repeat(3_000_000)}`;
  const result = validateKeys(crawl, [huge]);
  const example = Object.values(result.rejectedExamples).flat()[0] ?? '';
  assert.equal(example.length, 201);
  assert.ok(huge.startsWith(example.slice(0, 200)));
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

/** A real HTTP server on loopback answering one wet.paths.gz body. */
async function serving(body: Buffer, run: (input: DiscoverInput) => Promise<void>): Promise<void> {
  const server = createServer((req, res) => {
    const found = req.url === `/${pathsListKey(crawl)}`;
    res.writeHead(found ? 200 : 404, { 'content-length': found ? body.length : 0 });
    res.end(found ? body : undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    await run({
      source: { kind: 'http', baseUrl: `http://127.0.0.1:${port}/` },
      crawl,
      selection: { count: 5 },
      seed: 1,
      storageRoot: tempDir('ccmix-discover-'),
    });
  } finally {
    server.close();
  }
}

test('a wet.paths.gz that is not gzip, cut short, empty or all rejected fails its crawl with the reason', async () => {
  const whole = gzipSync(`${key('1', 1)}\n${key('1', 2)}\n`);
  const cases: Array<[string, Buffer, RegExp]> = [
    [
      'not gzip',
      Buffer.from('<html>503 Service Unavailable</html>'),
      /is not a whole gzip file \(36 bytes\)/,
    ],
    ['cut short', whole.subarray(0, whole.length - 6), /is not a whole gzip file/],
    ['empty', gzipSync(''), /lists no WET file of CC-MAIN-2019-35 \(0 non-blank lines, rejected: \{\}\)/],
    [
      'no usable key',
      gzipSync('/etc/passwd\n../x\n'),
      /\(2 non-blank lines, rejected: \{"absolute":1,"traversal":1\}\)/,
    ],
  ];
  for (const [name, body, message] of cases) {
    await serving(body, async (input) => {
      await assert.rejects(discoverCrawl(input), (error: Error) => {
        assert.ok(error instanceof BadPathsListError, `${name}: ${error.name}`);
        assert.match(error.message, message, name);
        return true;
      });
      assert.equal(
        existsSync(path.join(input.storageRoot, discoverStageDir(input))),
        false,
        `${name}: nothing committed`,
      );
    });
  }
  await serving(whole, async (input) => {
    const result = await discoverCrawl(input);
    assert.equal(result.selected, 2, 'the same server and code accept a good list');
  });
});
