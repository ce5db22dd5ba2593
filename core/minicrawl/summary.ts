/** Ground-truth rows and the summary of a generated miniature crawl. */
import type { CcDoc } from './crawl';
import type { BrokenFile, MiniCrawlOptions } from './generate';
import type { ReferenceDoc } from './reference';
import { FILES_PER_SIZE, RECORDS_PER_FILE } from './crawl';
import { crawlHasLanguageHeader } from '../../config/crawls';

export const GENERATOR_VERSION = 'ccmix-minicrawl/1';

/** Where a row stands among the planted duplicates (all null for a row outside any group). */
export interface PlantedDuplicate {
  dup_group: string | null;
  dup_role: 'original' | 'exact' | 'near' | null;
  dup_scope: string | null;
  target_jaccard: number | null;
  actual_jaccard: number | null;
  dup_of: string | null;
}

export interface DocumentRow extends PlantedDuplicate {
  crawl: string;
  key: string;
  record_id: string;
  url: string;
  date: string;
  quality: 'high' | 'low';
  kind: string;
  lang: string | null;
  /** The WARC-Identified-Content-Language written, or null. */
  lang_header: string | null;
  bytes: number;
  dup_of_dataset: string | null;
  /** The breakage that makes this record unreadable, or null. */
  lost: string | null;
}

export interface ReferenceRow extends PlantedDuplicate {
  dataset: string;
  id: string;
  title: string;
  quality: 'high';
  kind: string;
  bytes: number;
}

const round4 = (x: number | null): number | null => (x === null ? null : Math.round(x * 1e4) / 1e4);

export function documentRow(doc: CcDoc): DocumentRow {
  return {
    crawl: doc.crawl,
    key: doc.key,
    record_id: doc.recordId,
    url: doc.url,
    date: new Date(doc.dateMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    quality: doc.page.quality,
    kind: doc.page.kind,
    lang: doc.page.lang,
    lang_header: crawlHasLanguageHeader(doc.crawl) ? doc.page.langHeader : null,
    bytes: doc.bodyBytes,
    dup_group: doc.dupGroup,
    dup_role: doc.dupRole,
    dup_scope: doc.dupScope,
    target_jaccard: doc.targetJaccard,
    actual_jaccard: round4(doc.actualJaccard),
    dup_of: doc.dupOf,
    dup_of_dataset: doc.dupOfDataset,
    lost: doc.lost,
  };
}

export function referenceRow(doc: ReferenceDoc): ReferenceRow {
  return {
    dataset: doc.dataset,
    id: doc.id,
    title: doc.title,
    quality: 'high',
    kind: doc.dataset === 'wikipedia' ? 'wikipedia' : doc.dataset === 'webtext2' ? 'webtext' : 'book',
    bytes: Buffer.byteLength(doc.text, 'utf8'),
    dup_group: doc.dupGroup,
    dup_role: doc.dupRole,
    dup_scope: doc.dupScope,
    target_jaccard: doc.targetJaccard,
    actual_jaccard: round4(doc.actualJaccard),
    dup_of: doc.dupOf,
  };
}

export interface JaccardStats {
  pairs: number;
  min: number;
  max: number;
  mean: number;
}

export interface MiniCrawlSummary {
  generator: string;
  params: {
    size: number;
    seed: number;
    crawls: readonly string[];
    filesPerCrawl: number;
    recordsPerFile: number;
    dupTargets: readonly number[];
  };
  files: number;
  records: number;
  /** Bytes of the WET files as written (gzip). */
  bytes: number;
  bodyBytes: number;
  lostRecords: number;
  brokenFiles: number;
  perKind: Record<string, number>;
  perQuality: Record<string, number>;
  perCrawl: Record<string, { files: number; records: number; bytes: number }>;
  /** Planted (copy, original) pairs by scope, then by target Jaccard ("1" = exact). */
  dupPairs: Record<string, Record<string, number>>;
  /** Achieved Jaccard per target, over every planted pair. */
  achievedJaccard: Record<string, JaccardStats>;
  reference: Record<string, { docs: number; bytes: number }>;
}

function bump(map: Record<string, number>, key: string, by = 1): void {
  map[key] = (map[key] ?? 0) + by;
}

export function buildSummary(input: {
  opts: MiniCrawlOptions;
  documents: readonly DocumentRow[];
  referenceRows: readonly ReferenceRow[];
  fileBytes: ReadonlyArray<{ crawl: string; key: string; bytes: number }>;
  broken: readonly BrokenFile[];
  dupTargets: readonly number[];
}): MiniCrawlSummary {
  const { opts, documents, referenceRows, fileBytes, broken } = input;
  const perKind: Record<string, number> = {};
  const perQuality: Record<string, number> = {};
  const perCrawl: MiniCrawlSummary['perCrawl'] = {};
  for (const crawl of opts.crawls) perCrawl[crawl] = { files: 0, records: 0, bytes: 0 };
  for (const f of fileBytes) {
    const c = perCrawl[f.crawl];
    if (c !== undefined) {
      c.files += 1;
      c.bytes += f.bytes;
    }
  }
  const dupPairs: MiniCrawlSummary['dupPairs'] = {};
  const achieved: Record<string, number[]> = {};
  const copies = [...documents, ...referenceRows].filter(
    (r) => r.dup_role === 'exact' || r.dup_role === 'near',
  );
  for (const row of copies) {
    const target = String(row.target_jaccard);
    bump((dupPairs[row.dup_scope ?? 'unknown'] ??= {}), target);
    (achieved[target] ??= []).push(row.actual_jaccard ?? NaN);
  }
  for (const row of documents) {
    bump(perKind, row.kind);
    bump(perQuality, row.quality);
    const c = perCrawl[row.crawl];
    if (c !== undefined) c.records += 1;
  }
  const reference: MiniCrawlSummary['reference'] = {};
  for (const row of referenceRows) {
    const r = (reference[row.dataset] ??= { docs: 0, bytes: 0 });
    r.docs += 1;
    r.bytes += row.bytes;
  }
  const achievedJaccard: MiniCrawlSummary['achievedJaccard'] = {};
  for (const [target, values] of Object.entries(achieved).sort(([a], [b]) => Number(b) - Number(a))) {
    achievedJaccard[target] = {
      pairs: values.length,
      min: Math.min(...values),
      max: Math.max(...values),
      mean: round4(values.reduce((s, v) => s + v, 0) / values.length) ?? NaN,
    };
  }
  return {
    generator: GENERATOR_VERSION,
    params: {
      size: opts.size,
      seed: opts.seed,
      crawls: [...opts.crawls],
      filesPerCrawl: FILES_PER_SIZE * opts.size,
      recordsPerFile: RECORDS_PER_FILE,
      dupTargets: [1, ...input.dupTargets],
    },
    files: fileBytes.length,
    records: documents.length,
    bytes: fileBytes.reduce((s, f) => s + f.bytes, 0),
    bodyBytes: documents.reduce((s, d) => s + d.bytes, 0),
    lostRecords: documents.filter((d) => d.lost !== null).length,
    brokenFiles: broken.length,
    perKind,
    perQuality,
    perCrawl,
    dupPairs,
    achievedJaccard,
    reference,
  };
}
