/**
 * One tokenizer, two languages: the npm tokenizer (core/tokenizer.ts) and the Spark jobs' Python
 * one (spark_jobs.tokenizer with the repo's rank file, as the mix job uses it) give identical
 * document ids on the miniature crawl, on the real samples in shared/data and on special-token
 * look-alikes. The venv's Python encodes every document in one run, beside the Node encoding.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT, sharedDataDir, venvBin } from '../core/paths';
import { GPT2_EOT, freeGpt2, gpt2Decode, gpt2Encode, gpt2EncodeDocument } from '../core/tokenizer';
import { tempDir } from './helpers/services';
import { LOOK_ALIKES, miniCrawlDocuments, sharedSampleDocuments, type Doc } from './helpers/tokenizer-corpus';

/** Reads a JSON list of texts, writes their document ids (text, then EOT) and the time taken. */
const PYTHON_ENCODE = `
import json, sys, time
from spark_jobs.tokenizer import encode_document, gpt2_encoding
enc = gpt2_encoding()
with open(sys.argv[1], encoding="utf-8") as f:
    texts = json.load(f)
start = time.perf_counter()
ids = [encode_document(enc, t) for t in texts]
seconds = time.perf_counter() - start
with open(sys.argv[2], "w", encoding="utf-8") as f:
    json.dump({"ids": ids, "seconds": seconds}, f, separators=(",", ":"))
`;

/** "<|endoftext|>" as ordinary text: "<", "|", "end", "of", "text", "|", ">". */
const LITERAL_EOT_IDS = [27, 91, 437, 1659, 5239, 91, 29];

interface Difference {
  name: string;
  offset: number;
  node: number | undefined;
  python: number | undefined;
}

/** The first document whose ids differ, and the first differing offset in it. */
function firstDifference(docs: readonly Doc[], node: number[][], python: number[][]): Difference | undefined {
  assert.equal(python.length, docs.length, 'python returned one id list per document');
  for (const [i, doc] of docs.entries()) {
    const a = node[i] ?? [];
    const b = python[i] ?? [];
    let offset = 0;
    while (offset < a.length && offset < b.length && a[offset] === b[offset]) offset++;
    if (offset < a.length || offset < b.length)
      return { name: doc.name, offset, node: a[offset], python: b[offset] };
  }
  return undefined;
}

function describeDifference(d: Difference, ids: number[]): string {
  const context = JSON.stringify(gpt2Decode(ids.slice(Math.max(0, d.offset - 8), d.offset)));
  return `${d.name}: ids differ at token ${d.offset} (node ${d.node}, python ${d.python}) after ${context}`;
}

interface Encoded {
  ids: number[][];
  seconds: number;
}

function pythonEncode(texts: string[], dir: string): Promise<Encoded> {
  const python = venvBin('python');
  if (!existsSync(python)) throw new Error(`${python} is missing: run \`npm run setup\``);
  const input = path.join(dir, 'texts.json');
  const output = path.join(dir, 'ids.json');
  writeFileSync(input, JSON.stringify(texts));
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-c', PYTHON_ENCODE, input, output], {
      cwd: path.join(REPO_ROOT, 'spark-jobs'),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`spark_jobs.tokenizer exited ${code}:\n${stderr}`));
      else resolve(JSON.parse(readFileSync(output, 'utf8')) as Encoded);
    });
  });
}

interface Group {
  docs: Doc[];
  node: number[][];
  python: number[][];
}

const dir = tempDir('tokenizer-parity');
const shared = sharedDataDir();
const groups: Record<'lookAlikes' | 'miniCrawl' | 'shared', Group> = {
  lookAlikes: { docs: [], node: [], python: [] },
  miniCrawl: { docs: [], node: [], python: [] },
  shared: { docs: [], node: [], python: [] },
};
const seconds = { node: 0, python: 0 };

before(async () => {
  groups.lookAlikes.docs = Object.entries(LOOK_ALIKES).map(([name, text]) => ({ name, text }));
  groups.miniCrawl.docs = await miniCrawlDocuments(path.join(dir, 'minicrawl'));
  if (existsSync(shared)) groups.shared.docs = await sharedSampleDocuments(shared);
  const all = Object.values(groups).flatMap((g) => g.docs);
  const python = pythonEncode(
    all.map((d) => d.text),
    dir,
  );
  gpt2Encode(''); // load the WASM encoder outside the timing
  const started = performance.now();
  const node = all.map((d) => gpt2EncodeDocument(d.text)); // while Python runs
  seconds.node = (performance.now() - started) / 1000;
  const { ids: pythonIds, seconds: pythonSeconds } = await python;
  seconds.python = pythonSeconds;
  let at = 0;
  for (const g of Object.values(groups)) {
    g.node = node.slice(at, at + g.docs.length);
    g.python = pythonIds.slice(at, at + g.docs.length);
    at += g.docs.length;
  }
});

after(() => {
  freeGpt2();
  rmSync(dir, { recursive: true, force: true });
});

function assertParity(group: Group): void {
  const difference = firstDifference(group.docs, group.node, group.python);
  if (difference) {
    const i = group.docs.findIndex((d) => d.name === difference.name);
    assert.fail(describeDifference(difference, group.node[i] ?? []));
  }
  for (const [side, lists] of [
    ['node', group.node],
    ['python', group.python],
  ] as const) {
    lists.forEach((ids, i) => {
      const name = group.docs[i]?.name ?? '';
      assert.equal(ids.indexOf(GPT2_EOT), ids.length - 1, `${side}, ${name}: EOT only at the end`);
    });
  }
  const bytes = group.docs.reduce((n, d) => n + Buffer.byteLength(d.text), 0);
  const ids = group.node.reduce((n, list) => n + list.length, 0);
  console.log(`parity: ${group.docs.length} documents, ${bytes} bytes, ${ids} ids identical`);
}

void test('special-token look-alikes: identical ids, and "<|endoftext|>" stays text on both sides', () => {
  assertParity(groups.lookAlikes);
  const eot = groups.lookAlikes.docs.findIndex((d) => d.name === 'eot');
  for (const ids of [groups.lookAlikes.node[eot], groups.lookAlikes.python[eot]]) {
    assert.deepEqual(ids, [...LITERAL_EOT_IDS, GPT2_EOT]);
  }
  assert.deepEqual(gpt2Encode('<|endoftext|>'), LITERAL_EOT_IDS);
});

void test('the miniature crawl: identical ids on every page and reference text', () => {
  assert.ok(groups.miniCrawl.docs.length > 50, `${groups.miniCrawl.docs.length} documents`);
  assertParity(groups.miniCrawl);
});

void test('the real samples in shared/data, the multilingual WET included: identical ids', (t) => {
  if (!existsSync(shared)) {
    t.skip(`shared sample data not found at ${shared} (set CCMIX_SHARED_DATA)`);
    return;
  }
  const names = groups.shared.docs.map((d) => d.name);
  for (const language of ['zho', 'rus', 'jpn']) {
    assert.ok(
      names.some((n) => n.includes('CC-MAIN-2020-50') && n.includes(language)),
      `a ${language} page`,
    );
  }
  for (const prefix of ['shared/books/', 'shared/wikipedia/', 'shared/cc_derived']) {
    assert.ok(
      names.some((n) => n.startsWith(prefix)),
      `documents from ${prefix}`,
    );
  }
  assert.ok(
    groups.shared.docs.some((d) => d.text.includes('\r\n')),
    'CRLF text among the samples',
  );
  assertParity(groups.shared);
  console.log(`encoding time: node ${seconds.node.toFixed(2)} s, python ${seconds.python.toFixed(2)} s`);
});

void test('the comparison names the first differing document and offset', () => {
  const { docs, node } = groups.lookAlikes;
  const i = docs.findIndex((d) => d.name === 'eot_in_text');
  const special = [...gpt2Encode(docs[i]?.text ?? '', { allowSpecial: true }), GPT2_EOT];
  const tampered = node.map((ids, j) => (j === i ? special : ids));
  const difference = firstDifference(docs, node, tampered);
  assert.deepEqual(difference, {
    name: 'eot_in_text',
    offset: gpt2Encode('before').length,
    node: LITERAL_EOT_IDS[0],
    python: GPT2_EOT,
  });
  assert.match(
    describeDifference(difference, node[i] ?? []),
    /^eot_in_text: ids differ at token \d+ \(node 27, python 50256\) after "before"$/,
  );
  const shorter = node.map((ids, j) => (j === i ? ids.slice(0, -1) : ids));
  assert.equal(firstDifference(docs, node, shorter)?.python, undefined);
  assert.equal(firstDifference(docs, node, node), undefined);
});
