import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  generateMiniCrawl,
  setJaccard,
  sparkJaccard,
  sparkTokens,
  tokenSet,
  type DocumentRow,
} from '../core/minicrawl';
import { readWetFile, header } from '../core/warc/wet-reader';

const CRAWLS = ['CC-MAIN-2016-07', 'CC-MAIN-2017-04', 'CC-MAIN-2018-34', 'CC-MAIN-2019-04'];
const root = mkdtempSync(path.join(tmpdir(), 'ccmix-minicrawl-'));
after(() => rmSync(root, { recursive: true, force: true }));

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const full = path.join(dir, name);
      return statSync(full).isDirectory() ? listFiles(full, `${prefix}${name}/`) : [`${prefix}${name}`];
    });
}

const gen = (name: string, seed: number, size = 1, crawls = CRAWLS) =>
  generateMiniCrawl({ outDir: path.join(root, name), size, seed, crawls });

const readRows = (dir: string): DocumentRow[] =>
  readFileSync(path.join(dir, 'ground-truth', 'documents.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as DocumentRow);

test('sparkJaccard follows Spark Tokenizer: lowercase, split on each whitespace char', () => {
  assert.deepEqual(sparkTokens('A  b\n'), ['a', '', 'b']);
  assert.deepEqual(sparkTokens(' x'), ['', 'x']);
  assert.equal(sparkJaccard('The cat', 'the CAT'), 1);
  assert.equal(sparkJaccard('a b c d', 'a b c e'), 3 / 5);
});

test('same options give byte-identical output; another seed differs', async () => {
  await gen('a', 7);
  await gen('b', 7);
  await gen('c', 8);
  const a = path.join(root, 'a');
  const files = listFiles(a);
  assert.deepEqual(files, listFiles(path.join(root, 'b')));
  for (const file of files) {
    assert.ok(readFileSync(path.join(a, file)).equals(readFileSync(path.join(root, 'b', file))), file);
  }
  const summaryA = readFileSync(path.join(a, 'ground-truth', 'documents.jsonl'));
  assert.ok(!summaryA.equals(readFileSync(path.join(root, 'c', 'ground-truth', 'documents.jsonl'))));
});

test('size scales files and records linearly', async () => {
  const one = await gen('s1', 3, 1, CRAWLS.slice(0, 2));
  const two = await gen('s2', 3, 2, CRAWLS.slice(0, 2));
  assert.equal(two.files, 2 * one.files);
  assert.equal(two.records, 2 * one.records);
  for (const dataset of ['webtext2', 'books1', 'books2', 'wikipedia']) {
    const r1 = one.reference[dataset]!.docs;
    const r2 = two.reference[dataset]!.docs;
    assert.ok(Math.abs(r2 / r1 - 2) < 0.1, `${dataset}: ${r1} -> ${r2}`);
  }
});

test('reader reads back every record, digests verify, broken files fail as stated', async () => {
  const dir = path.join(root, 'a');
  const rows = readRows(dir);
  const broken = JSON.parse(
    readFileSync(path.join(dir, 'ground-truth', 'broken-files.json'), 'utf8'),
  ) as Array<{
    key: string;
    expectedProblem: string;
    lostRecordIds: string[];
  }>;
  assert.equal(broken.length, 4);
  const byKey = new Map(broken.map((b) => [b.key, b]));
  const seen = new Set<string>();
  for (const crawl of CRAWLS) {
    const keys = gunzipSync(readFileSync(path.join(dir, 'crawl-data', crawl, 'wet.paths.gz')))
      .toString('utf8')
      .trim()
      .split('\n');
    assert.equal(keys.length, 2);
    for (const key of keys) {
      assert.match(
        key,
        new RegExp(`^crawl-data/${crawl}/segments/[0-9.]+/wet/CC-MAIN-[\\w.-]+\\.warc\\.wet\\.gz$`),
      );
      const { records, problems } = await readWetFile(path.join(dir, key), { chunkSize: 8192 });
      const expectedRows = rows.filter((r) => r.key === key && r.lost === null);
      const conv = records.filter((r) => header(r, 'WARC-Type') === 'conversion');
      assert.deepEqual(
        conv.map((r) => header(r, 'WARC-Record-ID')),
        expectedRows.map((r) => r.record_id),
        key,
      );
      assert.ok(conv.every((r) => r.digestOk === true));
      conv.forEach((r, i) => assert.equal(r.body.length, expectedRows[i]!.bytes));
      const b = byKey.get(key);
      assert.deepEqual(problems, b === undefined ? {} : { [b.expectedProblem]: 1 }, key);
      if (b !== undefined) {
        assert.deepEqual(
          rows.filter((r) => r.key === key && r.lost !== null).map((r) => r.record_id),
          b.lostRecordIds,
        );
      }
      for (const r of conv) seen.add(header(r, 'WARC-Record-ID')!);
    }
  }
  assert.equal(seen.size, rows.filter((r) => r.lost === null).length);
});

test('planted duplicates hit their Jaccard targets; unplanted pages stay apart', async () => {
  const dir = path.join(root, 'a');
  const rows = readRows(dir);
  const texts = new Map<string, string>();
  for (const key of new Set(rows.map((r) => r.key))) {
    for (const r of (await readWetFile(path.join(dir, key))).records) {
      texts.set(header(r, 'WARC-Record-ID')!, r.body.toString('utf8'));
    }
  }
  const webtext = new Map(
    readFileSync(path.join(dir, 'reference', 'webtext2', 'part-00000.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; text: string })
      .map((d) => [d.id, d.text]),
  );
  const copies = rows.filter((r) => r.dup_role === 'exact' || r.dup_role === 'near');
  const scopes = new Set(copies.map((r) => r.dup_scope));
  assert.deepEqual([...scopes].sort(), ['cross_crawl', 'webtext', 'within_crawl']);
  for (const row of copies) {
    const original = row.dup_of_dataset === 'webtext2' ? webtext.get(row.dup_of!) : texts.get(row.dup_of!);
    const copy = texts.get(row.record_id);
    assert.ok(original !== undefined && copy !== undefined);
    const j = sparkJaccard(original, copy);
    assert.ok(Math.abs(j - row.actual_jaccard!) < 1e-4);
    assert.ok(Math.abs(j - row.target_jaccard!) <= 0.03, `${row.record_id}: ${j} vs ${row.target_jaccard}`);
  }
  // No accidental near-duplicates among pages outside the planted groups.
  const plain = rows
    .filter((r) => r.dup_group === null && r.lost === null && r.kind !== 'empty')
    .map((r) => tokenSet(texts.get(r.record_id)!));
  let worst = 0;
  for (let i = 0; i < plain.length; i++) {
    for (let k = i + 1; k < plain.length; k++) worst = Math.max(worst, setJaccard(plain[i]!, plain[k]!));
  }
  assert.ok(worst < 0.5, `max Jaccard of unplanted pairs ${worst}`);
});

test('language header exactly from CC-MAIN-2018-34; every kind is present', () => {
  const rows = readRows(path.join(root, 'a'));
  for (const r of rows) {
    const expectHeader = r.crawl >= 'CC-MAIN-2018-34' && r.kind !== 'empty';
    assert.equal(r.lang_header !== null, expectHeader, `${r.crawl} ${r.kind}`);
  }
  const kinds = new Set(rows.map((r) => r.kind));
  for (const kind of [
    'prose',
    'boilerplate',
    'spam',
    'navigation',
    'fragment',
    'non_english',
    'empty',
    'giant',
  ]) {
    assert.ok(kinds.has(kind), kind);
  }
  assert.ok(rows.some((r) => r.kind === 'giant' && r.bytes > 2_000_000));
});
