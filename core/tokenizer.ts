// GPT-2 BPE through the npm `tiktoken` package (WASM). The Python side (spark_jobs.tokenizer) builds the
// same encoding from ranks exported by infra/gpt2-ranks.ts; a parity test keeps the two identical.
//
// `<|endoftext|>` is explicit: by default a literal `<|endoftext|>` inside a document is plain text
// (scraped pages contain it), and a document's ids are its text followed by GPT2_EOT.

import { get_encoding, type Tiktoken } from 'tiktoken';

export const GPT2_EOT = 50256;
export const GPT2_N_VOCAB = 50257;

export interface EncodeOptions {
  /** Map a literal `<|endoftext|>` in the text to GPT2_EOT instead of encoding its characters. */
  allowSpecial?: boolean;
}

let encoder: Tiktoken | undefined;

function gpt2(): Tiktoken {
  encoder ??= get_encoding('gpt2');
  return encoder;
}

export function gpt2Encode(text: string, options: EncodeOptions = {}): number[] {
  const ids = options.allowSpecial ? gpt2().encode(text, 'all') : gpt2().encode_ordinary(text);
  return Array.from(ids);
}

/** A document's ids for training: its text as ordinary text, then the end-of-text token. */
export function gpt2EncodeDocument(text: string): number[] {
  const ids = gpt2Encode(text);
  ids.push(GPT2_EOT);
  return ids;
}

export function gpt2CountTokens(text: string): number {
  return gpt2().encode_ordinary(text).length;
}

export function gpt2Decode(ids: readonly number[]): string {
  return new TextDecoder().decode(gpt2().decode(Uint32Array.from(ids)));
}

/** Releases the WASM encoder; the next call loads it again. */
export function freeGpt2(): void {
  encoder?.free();
  encoder = undefined;
}
