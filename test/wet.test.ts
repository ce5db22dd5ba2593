import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readWetFile, header } from '../core/warc/wet-reader';
import { base32, blockDigest, conversionRecord, gzipMember, wetFileMembers } from '../core/warc/wet-writer';

const repoRoot = path.resolve(__dirname, '..', '..');
const sharedData = process.env.CCMIX_SHARED_DATA ?? path.resolve(repoRoot, '..', 'shared', 'data');

const info = {
  crawl: 'CC-MAIN-2019-04',
  date: '2019-01-23T00:00:00Z',
  filename: 'x.warc.wet.gz',
  recordId: '<urn:uuid:00000000-0000-4000-8000-000000000000>',
  softwareInfo: 'test',
  description: 'test',
};
const rec = (i: number, body: string, language: string | null = 'eng') => ({
  targetUri: `http://example.com/${i}`,
  date: '2019-01-16T00:00:00Z',
  recordId: `<urn:uuid:00000000-0000-4000-8000-00000000000${i}>`,
  refersTo: `<urn:uuid:10000000-0000-4000-8000-00000000000${i}>`,
  language,
  body: Buffer.from(body, 'utf8'),
});

test('base32 follows RFC 4648 test vectors', () => {
  assert.equal(base32(Buffer.from('')), '');
  assert.equal(base32(Buffer.from('f')), 'MY======');
  assert.equal(base32(Buffer.from('fooba')), 'MZXW6YTB');
  assert.equal(base32(Buffer.from('foobar')), 'MZXW6YTBOI======');
  assert.match(blockDigest(Buffer.from('x')), /^sha1:[A-Z2-7]{32}$/);
});

test('writer and reader round-trip, with headers in Common Crawl order', async () => {
  const records = [rec(1, 'Hello\nworld\n'), rec(2, ''), rec(3, 'Grüße\n', 'deu')];
  const file = Buffer.concat(wetFileMembers(info, records));
  const { records: read, problems } = await readWetFile(file, { chunkSize: 64 });
  assert.deepEqual(problems, {});
  assert.equal(read.length, 4);
  assert.equal(header(read[0]!, 'warc-type'), 'warcinfo');
  assert.deepEqual(
    read[1]!.headers.map(([n]) => n),
    [
      'WARC-Type',
      'WARC-Target-URI',
      'WARC-Date',
      'WARC-Record-ID',
      'WARC-Refers-To',
      'WARC-Block-Digest',
      'WARC-Identified-Content-Language',
      'Content-Type',
      'Content-Length',
    ],
  );
  assert.deepEqual(
    read.slice(1).map((r) => r.body.toString('utf8')),
    records.map((r) => r.body.toString('utf8')),
  );
  assert.ok(read.slice(1).every((r) => r.digestOk === true));
  assert.equal(header(read[2]!, 'Content-Length'), '0');
  const old = conversionRecord('CC-MAIN-2017-04', rec(1, 'a\n')).toString('latin1');
  assert.ok(!old.includes('WARC-Identified-Content-Language'));
  assert.ok(old.startsWith('WARC/1.0\r\nWARC-Type: conversion\r\n') && old.endsWith('a\n\r\n\r\n'));
});

test('reader counts problems and keeps reading', async () => {
  const good = wetFileMembers(info, [rec(1, 'one\n'), rec(2, 'two\n'), rec(3, 'three\n')]);
  const [m0, m1, m2, m3] = good as [Buffer, Buffer, Buffer, Buffer];
  const badLength = gzipMember(conversionRecord(info.crawl, { ...rec(4, 'four\n'), contentLength: 99 }));
  const cases: Array<[string, Buffer, number, Record<string, number>]> = [
    ['truncated', Buffer.concat([m0, m1, m2, m3.subarray(0, 30)]), 3, { truncated_gzip: 1 }],
    ['bad length', Buffer.concat([m0, m1, badLength, m2]), 3, { bad_content_length: 1 }],
    ['garbage tail', Buffer.concat([m0, m1, Buffer.from('<html>oops</html>')]), 2, { garbage_tail: 1 }],
    ['garbage between', Buffer.concat([m0, Buffer.from('junk'), m1]), 2, { garbage_between_members: 1 }],
    ['malformed', Buffer.concat([m0, gzipSync('HTTP/1.1 200 OK\r\n\r\n'), m1]), 2, { malformed_header: 1 }],
  ];
  for (const [name, file, count, expected] of cases) {
    const { records, problems } = await readWetFile(file, { chunkSize: 16 });
    assert.equal(records.length, count, name);
    assert.deepEqual(problems, expected, name);
  }
  const plain = Buffer.concat([
    conversionRecord(info.crawl, { ...rec(1, 'one\n'), contentLength: 2 }),
    conversionRecord(info.crawl, rec(2, 'two\n')),
  ]);
  const { records, problems } = await readWetFile(plain);
  assert.equal(records.length, 1);
  assert.deepEqual(problems, { bad_content_length: 1 });
});

test('reader reads the real Common Crawl WET samples', async (t) => {
  const dir = path.join(sharedData, 'wet');
  if (!existsSync(dir)) {
    t.skip(`real WET samples not found at ${dir} (set CCMIX_SHARED_DATA)`);
    return;
  }
  const expected: Array<[string, number, boolean]> = [
    ['CC-MAIN-2020-50-head.warc.wet.gz', 317, true],
    ['CC-MAIN-2014-35-head.warc.wet', 3, false],
    ['CC-MAIN-2024-22-whirlwind.warc.wet.gz', 1, true],
  ];
  for (const [name, conversions, language] of expected) {
    const { records, problems } = await readWetFile(path.join(dir, name), { chunkSize: 4096 });
    assert.deepEqual(problems, {}, name);
    assert.equal(header(records[0]!, 'WARC-Type'), 'warcinfo', name);
    const conv = records.filter((r) => header(r, 'WARC-Type') === 'conversion');
    assert.equal(conv.length, conversions, name);
    assert.equal(records.length, conversions + 1, name);
    assert.ok(
      conv.every((r) => r.digestOk === true),
      `${name}: every block digest verifies`,
    );
    // The header appears from CC-MAIN-2018-34 on, on the records whose language was identified.
    assert.equal(
      conv.some((r) => header(r, 'WARC-Identified-Content-Language') !== undefined),
      language,
      name,
    );
  }
});
