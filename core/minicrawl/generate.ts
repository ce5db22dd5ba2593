/**
 * generateMiniCrawl: a deterministic miniature Common Crawl with its ground truth.
 *
 *   crawl-data/<crawl>/wet.paths.gz and the WET files it lists
 *   reference/<webtext2|books1|books2|wikipedia>/part-00000.jsonl
 *   ground-truth/documents.jsonl, reference.jsonl, broken-files.json, summary.json
 *
 * Same options, same bytes: all randomness comes from Rng streams keyed by the seed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { GZIP_LEVEL, wetFileMembers } from '../warc/wet-writer';
import {
  BREAKAGES,
  BREAKAGE_DESCRIPTION,
  EXPECTED_PROBLEM,
  Breakage,
  applyBreakage,
  breakagePlacement,
  lostRecordIndex,
} from './broken';
import { CcDoc, DUP_TARGETS, FILES_PER_SIZE, RECORDS_PER_FILE, crawlDocuments } from './crawl';
import { crawlStartMs, isoSeconds, wetFileName } from './layout';
import { Rng } from './prng';
import { REFERENCE_DATASETS, generateReference } from './reference';
import { MiniCrawlSummary, buildSummary, documentRow, referenceRow } from './summary';

export interface MiniCrawlOptions {
  outDir: string;
  size: number;
  seed: number;
  crawls: readonly string[];
}

export interface BrokenFile {
  crawl: string;
  key: string;
  breakage: Breakage;
  description: string;
  expectedProblem: string;
  lostRecordIds: string[];
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

async function put(path: string, data: Buffer | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}

const jsonl = (rows: readonly unknown[]): string =>
  rows.map((row) => JSON.stringify(row)).join('\n') + (rows.length > 0 ? '\n' : '');

function softwareInfo(crawl: string): string {
  return crawl < 'CC-MAIN-2018-00'
    ? 'ia-web-commons.1.1.9-SNAPSHOT-20160908033315'
    : 'ia-web-commons.1.1.9-SNAPSHOT-20180809121434';
}

function validate(opts: MiniCrawlOptions): void {
  if (!Number.isInteger(opts.size) || opts.size < 1)
    throw new Error(`size must be a positive integer, got ${opts.size}`);
  if (!Number.isInteger(opts.seed)) throw new Error(`seed must be an integer, got ${opts.seed}`);
  if (opts.crawls.length === 0) throw new Error('crawls must not be empty');
  if (new Set(opts.crawls).size !== opts.crawls.length) throw new Error('crawls must not repeat');
  for (const crawl of opts.crawls) crawlStartMs(crawl); // throws on a bad id
}

export async function generateMiniCrawl(opts: MiniCrawlOptions): Promise<MiniCrawlSummary> {
  validate(opts);
  const { outDir, size, seed, crawls } = opts;
  const reference = generateReference(seed, size);
  for (const dataset of REFERENCE_DATASETS) {
    const rows = reference[dataset].map(({ id, text, title }) => ({ id, text, title }));
    await put(join(outDir, 'reference', dataset, 'part-00000.jsonl'), jsonl(rows));
  }

  const files = FILES_PER_SIZE * size;
  const breakages = new Map<string, Breakage>();
  BREAKAGES.forEach((kind, k) => {
    const at = breakagePlacement(k, crawls.length, files);
    if (at !== null) breakages.set(`${at.crawl}/${at.file}`, kind);
  });

  const allDocs: CcDoc[] = [];
  const broken: BrokenFile[] = [];
  const fileBytes: Array<{ crawl: string; key: string; bytes: number }> = [];
  const counters = { near: 0, group: 0, webtext: 0 };
  let previous: CcDoc[] = [];
  for (const [crawlIndex, crawl] of crawls.entries()) {
    const docs = crawlDocuments({
      seed,
      size,
      crawl,
      crawlIndex,
      startMs: crawlStartMs(crawl),
      previous,
      webtext: reference.webtext2,
      counters,
    });
    const keys: string[] = [];
    for (let file = 0; file < files; file++) {
      const name = wetFileName(seed, crawl, file);
      const first = file * RECORDS_PER_FILE;
      const breakage = breakages.get(`${crawlIndex}/${file}`);
      const lostAt =
        breakage === undefined
          ? null
          : lostRecordIndex(breakage, Math.min(RECORDS_PER_FILE, docs.length - first));
      if (breakage !== undefined && lostAt !== null) {
        // The lost record must be an ordinary page: swap one in from elsewhere in the file.
        const ordinary = (d: CcDoc | undefined): boolean =>
          d !== undefined && d.dupRole === null && d.page.kind !== 'giant';
        const at = first + lostAt;
        const swap = docs.findIndex(
          (d, i) => i >= first && i < first + RECORDS_PER_FILE && i !== at && ordinary(d),
        );
        if (!ordinary(docs[at]) && swap >= 0)
          [docs[at], docs[swap]] = [docs[swap] as CcDoc, docs[at] as CcDoc];
        const lost = docs[at];
        if (lost !== undefined) lost.lost = breakage;
      }
      const records = docs.slice(first, first + RECORDS_PER_FILE);
      for (const doc of records) doc.key = name.key;
      const members = wetFileMembers(
        {
          crawl,
          date: isoSeconds(name.extractedMs),
          filename: name.filename,
          recordId: `<urn:uuid:${Rng.for(seed, crawl, 'warcinfo', file).uuid()}>`,
          softwareInfo: softwareInfo(crawl),
          description: `Wide crawl of the web for ${MONTHS[new Date(crawlStartMs(crawl) + 10 * 86_400_000).getUTCMonth()] ?? ''} ${crawl.slice(8, 12)}`,
        },
        records.map((doc, i) => {
          const body = Buffer.from(doc.page.text, 'utf8');
          const wrongLength = breakage === 'bad_content_length' && i === lostAt;
          return {
            targetUri: doc.url,
            date: isoSeconds(doc.dateMs),
            recordId: doc.recordId,
            refersTo: doc.refersTo,
            language: doc.page.langHeader,
            body,
            ...(wrongLength ? { contentLength: body.length + 7 } : {}),
          };
        }),
      );
      const data = breakage === undefined ? Buffer.concat(members) : applyBreakage(breakage, members);
      await put(join(outDir, name.key), data);
      keys.push(name.key);
      fileBytes.push({ crawl, key: name.key, bytes: data.length });
      if (breakage !== undefined) {
        broken.push({
          crawl,
          key: name.key,
          breakage,
          description: BREAKAGE_DESCRIPTION[breakage],
          expectedProblem: EXPECTED_PROBLEM[breakage],
          lostRecordIds: records.filter((d) => d.lost !== null).map((d) => d.recordId),
        });
      }
    }
    await put(
      join(outDir, 'crawl-data', crawl, 'wet.paths.gz'),
      gzipSync(`${keys.join('\n')}\n`, { level: GZIP_LEVEL }),
    );
    for (const doc of docs)
      if (doc.page.kind === 'giant') doc.page = { ...doc.page, text: doc.page.text.slice(0, 0) };
    allDocs.push(...docs);
    previous = docs;
  }

  const documents = allDocs.map(documentRow);
  const referenceRows = REFERENCE_DATASETS.flatMap((dataset) => reference[dataset].map(referenceRow));
  const summary = buildSummary({
    opts,
    documents,
    referenceRows,
    fileBytes,
    broken,
    dupTargets: DUP_TARGETS,
  });
  await put(join(outDir, 'ground-truth', 'documents.jsonl'), jsonl(documents));
  await put(join(outDir, 'ground-truth', 'reference.jsonl'), jsonl(referenceRows));
  await put(join(outDir, 'ground-truth', 'broken-files.json'), `${JSON.stringify(broken, null, 2)}\n`);
  await put(join(outDir, 'ground-truth', 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}
