// Exports the GPT-2 BPE ranks shipped with the npm `tiktoken` package as a tiktoken rank file, the
// format Python's `tiktoken.load.load_tiktoken_bpe` reads (`<base64 token> <rank>\n` per line), plus a
// sidecar `<out>.json` with `pat_str`, `special_tokens` and `explicit_n_vocab`. Python tiktoken cannot
// download its vocabulary here, so Spark jobs build their encoder from these files; a parity test
// proves both languages give identical ids.
//
//   node dist/infra/gpt2-ranks.js --out .ccmix/tokenizer/gpt2.tiktoken

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface Gpt2RanksResult {
  path: string;
  ranks: number;
  sha256: string;
}

interface NpmEncoder {
  explicit_n_vocab?: number;
  pat_str: string;
  special_tokens: Record<string, number>;
  bpe_ranks: string;
}

const GPT2_N_VOCAB = 50257;

/**
 * Decodes the npm package's compact `bpe_ranks`: lines of `! <offset> <base64 token>…`, ranks counting
 * up from the offset. Plain `<base64 token> <rank>` lines are accepted too.
 */
export function decodeBpeRanks(bpeRanks: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const line of bpeRanks.split('\n')) {
    if (line.trim() === '') continue;
    const parts = line.split(' ');
    const offset = Number(parts[1]);
    if (parts[0] === '!' && Number.isInteger(offset)) {
      parts.slice(2).forEach((token, i) => out.push([token, offset + i]));
    } else if (parts.length === 2 && Number.isInteger(offset) && parts[0]) {
      out.push([parts[0], offset]);
    } else {
      throw new Error(`unrecognised bpe_ranks line starting ${JSON.stringify(line.slice(0, 40))}`);
    }
  }
  return out;
}

function loadNpmGpt2(): NpmEncoder {
  const file = require.resolve('tiktoken/encoders/gpt2.json');
  return JSON.parse(readFileSync(file, 'utf8')) as NpmEncoder;
}

function writeIfChanged(path: string, content: string): void {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) return;
  mkdirSync(dirname(path), { recursive: true });
  const staging = `${path}.tmp-${process.pid}`;
  writeFileSync(staging, content);
  renameSync(staging, path); // atomic publish: readers never see a half-written file
}

/** Writes the rank file and its sidecar; does nothing when both already hold the right content. */
export function writeGpt2Ranks(outPath: string): Gpt2RanksResult {
  const encoder = loadNpmGpt2();
  const ranks = decodeBpeRanks(encoder.bpe_ranks);
  const seen = new Set(ranks.map(([, rank]) => rank));
  if (seen.size !== ranks.length) throw new Error('gpt2 bpe_ranks has duplicate ranks');
  const nVocab = encoder.explicit_n_vocab ?? GPT2_N_VOCAB;
  const nSpecial = Object.keys(encoder.special_tokens).length;
  if (ranks.length + nSpecial !== nVocab) {
    throw new Error(`gpt2 vocab: ${ranks.length} ranks + ${nSpecial} special != ${nVocab}`);
  }

  const content = ranks.map(([token, rank]) => `${token} ${rank}\n`).join('');
  const sidecar = `${JSON.stringify(
    { pat_str: encoder.pat_str, special_tokens: encoder.special_tokens, explicit_n_vocab: nVocab },
    null,
    2,
  )}\n`;
  const path = resolve(outPath);
  writeIfChanged(path, content);
  writeIfChanged(`${path}.json`, sidecar);
  return { path, ranks: ranks.length, sha256: createHash('sha256').update(content).digest('hex') };
}

function parseOut(argv: string[]): string {
  const i = argv.indexOf('--out');
  const value = i >= 0 ? argv[i + 1] : undefined;
  if (!value) throw new Error('usage: node dist/infra/gpt2-ranks.js --out <path>');
  return value;
}

if (require.main === module) {
  try {
    console.log(JSON.stringify(writeGpt2Ranks(parseOut(process.argv.slice(2)))));
  } catch (err) {
    console.error(`gpt2-ranks: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
