/** GPT-2 BPE in TypeScript, and the rank-file export the Spark jobs build their tokenizer from. */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  GPT2_EOT,
  GPT2_N_VOCAB,
  freeGpt2,
  gpt2CountTokens,
  gpt2Decode,
  gpt2Encode,
  gpt2EncodeDocument,
} from '../core/tokenizer';
import { decodeBpeRanks, writeGpt2Ranks } from '../infra/gpt2-ranks';
import { tempDir } from './helpers/services';

const dir = tempDir('gpt2-ranks');
after(() => {
  freeGpt2();
  rmSync(dir, { recursive: true, force: true });
});

void test('gpt2Encode gives the GPT-2 ids and round-trips', () => {
  assert.deepEqual(gpt2Encode('hello world'), [31373, 995]);
  const text = 'line one\r\nline two — naïve 😀 日本語';
  assert.equal(gpt2Decode(gpt2Encode(text)), text);
  assert.notDeepEqual(gpt2Encode('a\r\nb'), gpt2Encode('a\nb'));
  assert.equal(gpt2CountTokens(text), gpt2Encode(text).length);
  assert.deepEqual(gpt2Encode(''), []);
});

void test('<|endoftext|> is text unless allowed; a document ends with it', () => {
  const text = 'a<|endoftext|>b';
  assert.ok(!gpt2Encode(text).includes(GPT2_EOT));
  assert.equal(gpt2Encode(text, { allowSpecial: true }).filter((id) => id === GPT2_EOT).length, 1);
  const doc = gpt2EncodeDocument(text);
  assert.deepEqual(doc, [...gpt2Encode(text), GPT2_EOT]);
  assert.equal(gpt2Decode(doc), `${text}<|endoftext|>`);
});

void test('freeGpt2 releases the encoder and the next call loads it again', () => {
  freeGpt2();
  freeGpt2();
  assert.deepEqual(gpt2Encode('hello world'), [31373, 995]);
});

void test('decodeBpeRanks reads the compact and the plain line formats', () => {
  assert.deepEqual(decodeBpeRanks('! 5 IQ== Ig==\nIw== 9\n'), [
    ['IQ==', 5],
    ['Ig==', 6],
    ['Iw==', 9],
  ]);
  assert.throws(() => decodeBpeRanks('what is this'), /unrecognised bpe_ranks line/);
});

void test('writeGpt2Ranks exports 50256 mergeable ranks + 1 special, idempotently', () => {
  const out = path.join(dir, 'nested', 'gpt2.tiktoken');
  const first = writeGpt2Ranks(out);
  assert.equal(first.path, out);
  assert.equal(first.ranks, 50256);
  assert.match(first.sha256, /^[0-9a-f]{64}$/);

  const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 50256);
  assert.equal(lines[0], `${Buffer.from('!').toString('base64')} 0`);
  lines.forEach((line, rank) => assert.match(line, new RegExp(`^[A-Za-z0-9+/]+=* ${rank}$`)));

  const sidecar = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as {
    pat_str: string;
    special_tokens: Record<string, number>;
    explicit_n_vocab: number;
  };
  assert.deepEqual(sidecar.special_tokens, { '<|endoftext|>': GPT2_EOT });
  assert.equal(sidecar.explicit_n_vocab, GPT2_N_VOCAB);
  assert.equal(first.ranks + Object.keys(sidecar.special_tokens).length, GPT2_N_VOCAB);
  assert.ok(sidecar.pat_str.includes('\\p{L}'));

  const mtimes = [statSync(out).mtimeMs, statSync(`${out}.json`).mtimeMs];
  assert.deepEqual(writeGpt2Ranks(out), first);
  assert.deepEqual([statSync(out).mtimeMs, statSync(`${out}.json`).mtimeMs], mtimes);

  writeFileSync(out, 'IQ== 0\n'); // a stale or truncated file is replaced
  assert.deepEqual(writeGpt2Ranks(out), first);
  assert.equal(readFileSync(out, 'utf8').split('\n').length, 50257);
});
