/**
 * Named documents for the tokenizer parity test: special-token look-alikes, the miniature crawl's
 * pages and reference texts, and the real samples in shared/data (capped, to keep the test fast).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { generateMiniCrawl } from '../../core/minicrawl';
import { header, readWetFile } from '../../core/warc/wet-reader';

export interface Doc {
  name: string;
  text: string;
}

/** Text that resembles a special token, or is awkward for a byte-level BPE. */
export const LOOK_ALIKES: Readonly<Record<string, string>> = {
  eot: '<|endoftext|>',
  eot_in_text: 'before<|endoftext|>after <|endoftext|> and <|endoftext|>',
  eot_twice: '<|endoftext|><|endoftext|>',
  eot_open: '<|endoftext',
  eot_close: 'endoftext|>',
  eot_spaced: '<|endof text|>',
  eot_upper: '<|ENDOFTEXT|>',
  eot_zero_width: '<|endof\u200btext|>',
  eot_fullwidth_bars: '<｜endoftext｜>',
  eot_nested: '<|endoftext| <|endof <|endoftext|>|>',
  fim: '<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>  return 1',
  chat: '<|im_start|>user\nhello<|im_end|>\n<|endofprompt|>',
  crlf: 'line one\r\nline two\r\n\r\nlast line without newline',
  lone_cr: 'old mac\rline\r\n\r',
  whitespace: '   \n\n\n   \t \r\n  \u00a0\u2028\u3000',
  emoji: 'emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 keycap 1️⃣',
  combining: 'cafe\u0301 vs caf\u00e9; Z\u0334\u0321\u032aa\u0337l\u0338g\u0336o\u0335; \u0915\u094d\u0937',
  lone_surrogates: 'high \ud800 low \udc00 half an emoji \ud83d end',
  controls: 'nul \u0000 bom \ufeff bell \u0007 del \u007f',
  digits: '3.14159265358979 1,000,000 0x7fffffff 12345678901234567890',
  long_run: `${'='.repeat(3000)} ${' '.repeat(3000)}x${'ab'.repeat(2000)}`,
  empty: '',
};

/** Bytes kept: of each miniature reference dataset, of each book or Wikipedia file (cut at a line
 * end), and of the real WET pages per identified language (every language stays in). */
export const REFERENCE_CAP = 50_000;
export const TEXT_FILE_CAP = 60_000;
export const WET_CAP_PER_LANGUAGE = 40_000;

/** The miniature crawl (one crawl, size 1): every WET page body, and reference texts. */
export async function miniCrawlDocuments(outDir: string): Promise<Doc[]> {
  await generateMiniCrawl({ outDir, size: 1, seed: 9, crawls: ['CC-MAIN-2020-50'] });
  const docs: Doc[] = [];
  for (const file of listFiles(outDir).filter((f) => f.endsWith('.warc.wet.gz'))) {
    docs.push(...(await wetDocuments(file, `minicrawl/${path.relative(outDir, file)}`)));
  }
  for (const file of listFiles(path.join(outDir, 'reference'))) {
    const name = `minicrawl/${path.relative(outDir, file)}`;
    docs.push(...capped(jsonLines(readFileSync(file, 'utf8'), name), REFERENCE_CAP));
  }
  return docs;
}

/** The real samples: WET conversion records in every language found, cleaned Common Crawl
 * documents, and the head of each book and Wikipedia file. */
export async function sharedSampleDocuments(dataDir: string): Promise<Doc[]> {
  const docs: Doc[] = [];
  const perLanguage = new Map<string, number>();
  for (const file of sortedFiles(path.join(dataDir, 'wet'))) {
    for (const doc of await wetDocuments(file, `shared/wet/${path.basename(file)}`)) {
      const seen = perLanguage.get(doc.language) ?? 0;
      if (seen >= WET_CAP_PER_LANGUAGE) continue;
      perLanguage.set(doc.language, seen + Buffer.byteLength(doc.text));
      docs.push({ name: doc.name, text: doc.text });
    }
  }
  for (const file of sortedFiles(path.join(dataDir, 'cc_derived'))) {
    docs.push(...jsonLines(gunzipSync(readFileSync(file)).toString('utf8'), `shared/cc_derived`));
  }
  for (const dir of ['books', 'wikipedia']) {
    for (const file of sortedFiles(path.join(dataDir, dir))) {
      const text = readFileSync(file).toString('utf8');
      const end = text.length > TEXT_FILE_CAP ? text.lastIndexOf('\n', TEXT_FILE_CAP) + 1 : text.length;
      docs.push({ name: `shared/${dir}/${path.basename(file)}`, text: text.slice(0, end) });
    }
  }
  return docs;
}

/** Conversion records; `language` is the first identified one ("" when the header is absent). */
async function wetDocuments(file: string, name: string): Promise<Array<Doc & { language: string }>> {
  const { records } = await readWetFile(file);
  return records
    .map((record, i) => ({ record, i }))
    .filter(({ record }) => header(record, 'WARC-Type') === 'conversion')
    .map(({ record, i }) => {
      const languages = header(record, 'WARC-Identified-Content-Language') ?? '';
      return {
        name: `${name}#${i}${languages ? ` (${languages})` : ''}`,
        text: record.body.toString('utf8'),
        language: languages.split(',')[0] ?? '',
      };
    });
}

function jsonLines(content: string, name: string): Doc[] {
  return content
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => ({ name: `${name}#${i}`, text: (JSON.parse(line) as { text: string }).text }));
}

/** The first documents of `docs` that fit in `bytes`. */
function capped(docs: Doc[], bytes: number): Doc[] {
  const kept: Doc[] = [];
  let total = 0;
  for (const doc of docs) {
    total += Buffer.byteLength(doc.text);
    if (total > bytes) break;
    kept.push(doc);
  }
  return kept;
}

function sortedFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => path.join(dir, name));
}

/** Every file under `dir`, recursively, in sorted order. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((name) => path.join(dir, name))
    .filter((file) => statSync(file).isFile());
}
