/**
 * discover: read a crawl's wet.paths.gz, keep the keys that are really WET files of that crawl,
 * and choose the configured subset deterministically from the seed.
 */
import { gunzipSync } from 'node:zlib';
import type { Config } from '../config/schema';
import { describeSource } from './commoncrawl-source';
import { fetchObject } from './download/source-reader';
import { sha256Hex, stageFingerprint } from './fingerprint';
import { commitStage, readCommitted } from './stage';
import { openStorage } from './storage';

export type WetSelection = Config['wetFilesPerCrawl'];

export type RejectReason = 'traversal' | 'absolute' | 'foreign_crawl' | 'not_wet' | 'duplicate';

export interface KeyValidation {
  valid: string[];
  blankLines: number;
  rejected: Partial<Record<RejectReason, number>>;
  /** A few rejected lines per reason, for the report. */
  rejectedExamples: Partial<Record<RejectReason, string[]>>;
}

export function pathsListKey(crawl: string): string {
  return `crawl-data/${crawl}/wet.paths.gz`;
}

/** The key as a server or file system might read it: percent escapes undone (twice-encoded too), `\\` as `/`. */
function decodedForms(key: string): string[] {
  const forms = [key];
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(forms[forms.length - 1] as string);
    } catch {
      break;
    }
    if (next === forms[forms.length - 1]) break;
    forms.push(next);
  }
  return forms.map((f) => f.replaceAll('\\', '/'));
}

function classifyKey(crawl: string, key: string): RejectReason | null {
  const dotSegment = (form: string): boolean => form.split('/').some((part) => part === '..' || part === '.');
  if (decodedForms(key).some(dotSegment)) return 'traversal';
  if (key.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(key)) return 'absolute';
  if (!key.startsWith(`crawl-data/${crawl}/`)) return 'foreign_crawl';
  const wetKey = new RegExp(
    `^crawl-data/${crawl}/segments/[A-Za-z0-9._-]+/wet/[A-Za-z0-9._-]+\\.warc\\.wet\\.gz$`,
  );
  return wetKey.test(key) ? null : 'not_wet';
}

export function validateKeys(crawl: string, lines: readonly string[]): KeyValidation {
  const result: KeyValidation = { valid: [], blankLines: 0, rejected: {}, rejectedExamples: {} };
  const seen = new Set<string>();
  for (const raw of lines) {
    const key = raw.trim();
    if (key === '') {
      result.blankLines += 1;
      continue;
    }
    const reason = seen.has(key) ? 'duplicate' : classifyKey(crawl, key);
    if (reason) {
      result.rejected[reason] = (result.rejected[reason] ?? 0) + 1;
      const examples = (result.rejectedExamples[reason] ??= []);
      // Shortened: a corrupt list can hold lines of megabytes, and examples travel in the result.
      if (examples.length < 5) examples.push(key.length > 200 ? `${key.slice(0, 200)}…` : key);
      continue;
    }
    seen.add(key);
    result.valid.push(key);
  }
  return result;
}

/** A wet.paths.gz that cannot be read, or lists no usable key: its crawl fails, the others go on. */
export class BadPathsListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadPathsListError';
  }
}

export function parsePathsList(gzipped: Buffer, key = 'wet.paths.gz'): string[] {
  let text: Buffer;
  try {
    text = gunzipSync(gzipped);
  } catch (error) {
    throw new BadPathsListError(
      `${key} is not a whole gzip file (${gzipped.length} bytes): ${(error as Error).message}`,
    );
  }
  return text.toString('utf8').split('\n');
}

export function selectionSize(available: number, selection: WetSelection): number {
  return 'count' in selection
    ? Math.min(selection.count, available)
    : Math.min(available, Math.ceil(selection.fraction * available));
}

/**
 * Ranks keys by hash(seed, key) and takes the first n, so the subset is spread over segments and
 * a larger n always contains a smaller one. The result is in the list's own order.
 */
export function selectKeys(keys: readonly string[], selection: WetSelection, seed: number): string[] {
  const n = selectionSize(keys.length, selection);
  const ranked = keys.map((key, index) => ({ index, rank: sha256Hex(`${seed}\n${key}`) }));
  ranked.sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : a.index - b.index));
  return ranked
    .slice(0, n)
    .map((r) => r.index)
    .sort((a, b) => a - b)
    .map((i) => keys[i] as string);
}

export interface DiscoverInput {
  source: Config['source'];
  crawl: string;
  selection: WetSelection;
  seed: number;
  storageRoot: string;
}

export interface DiscoverResult {
  crawl: string;
  /** Storage-relative path of the chosen keys, one per line. */
  keysPath: string;
  /** Names this exact key list (the discover fingerprint); download parts carry it. */
  listId: string;
  listed: number;
  valid: number;
  selected: number;
  blankLines: number;
  rejected: KeyValidation['rejected'];
  rejectedExamples: KeyValidation['rejectedExamples'];
}

export const DISCOVER_CODE_VERSION = 1;

function discoverFingerprint(input: DiscoverInput): string {
  return stageFingerprint('discover', DISCOVER_CODE_VERSION, {
    source: describeSource(input.source),
    crawl: input.crawl,
    selection: input.selection,
    seed: input.seed,
  });
}

export function discoverStageDir(input: DiscoverInput): string {
  return `discover/${discoverFingerprint(input)}/${input.crawl}`;
}

/** Returns the committed result when this exact discovery already ran (`skipped: true`). */
export async function discoverCrawl(input: DiscoverInput): Promise<DiscoverResult & { skipped: boolean }> {
  const storage = openStorage(input.storageRoot);
  const stageDir = discoverStageDir(input);
  const committed = await readCommitted<DiscoverResult>(storage, stageDir);
  if (committed) return { ...committed, skipped: true };

  const key = pathsListKey(input.crawl);
  const lines = parsePathsList(await fetchObject(input.source, key), key);
  const validation = validateKeys(input.crawl, lines);
  if (validation.valid.length === 0) {
    const listed = lines.length - validation.blankLines;
    throw new BadPathsListError(
      `${key} lists no WET file of ${input.crawl} (${listed} non-blank lines, rejected: ${JSON.stringify(validation.rejected)})`,
    );
  }
  const chosen = selectKeys(validation.valid, input.selection, input.seed);
  const result: DiscoverResult = {
    crawl: input.crawl,
    keysPath: `${stageDir}/wet-keys.txt`,
    listId: discoverFingerprint(input),
    listed: lines.length - validation.blankLines,
    valid: validation.valid.length,
    selected: chosen.length,
    blankLines: validation.blankLines,
    rejected: validation.rejected,
    rejectedExamples: validation.rejectedExamples,
  };
  await commitStage(storage, stageDir, { 'wet-keys.txt': chosen.join('\n') + '\n' }, result);
  return { ...result, skipped: false };
}
