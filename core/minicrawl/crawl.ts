/**
 * The documents of one crawl: ordinary pages by kind, empty and giant pages, and planted
 * duplicates (within the crawl, of the previous crawl's pages, of WebText2 documents).
 */
import { tokenSet } from './jaccard';
import { randomUrl } from './layout';
import { nearDuplicate } from './neardup';
import { KIND_WEIGHTS, Page, emptyPage, giantPage, prosePage, randomPage } from './pages';
import { Rng } from './prng';
import { DupInfo, NO_DUP, ReferenceDoc } from './reference';
import { topicWords } from './text';

export const FILES_PER_SIZE = 2;
export const RECORDS_PER_FILE = 40;
/** Near-duplicate targets, used in turn. */
export const DUP_TARGETS = [0.95, 0.9, 0.8, 0.7, 0.5] as const;
/** Originals need enough distinct tokens for the targets to be reachable within ±0.01. */
const MIN_ORIGINAL_TOKENS = 120;

export interface CcDoc extends DupInfo {
  crawl: string;
  recordId: string;
  refersTo: string;
  url: string;
  dateMs: number;
  page: Page;
  key: string;
  /** UTF-8 bytes of the body. */
  bodyBytes: number;
  lost: string | null;
}

export interface CrawlContext {
  seed: number;
  size: number;
  crawl: string;
  crawlIndex: number;
  startMs: number;
  /** Pages of the previous crawl that may be re-crawled (prose, not lost, not yet duplicated). */
  previous: CcDoc[];
  webtext: ReferenceDoc[];
  /** Shared counters across crawls, so targets and group ids run on. */
  counters: { near: number; group: number; webtext: number };
}

function longProse(rng: Rng): Page {
  for (;;) {
    const page = prosePage(rng);
    if (tokenSet(page.text).size >= MIN_ORIGINAL_TOKENS) return page;
  }
}

export function isEligibleOriginal(doc: CcDoc): boolean {
  return (
    doc.page.kind === 'prose' &&
    doc.dupRole === null &&
    doc.lost === null &&
    tokenSet(doc.page.text).size >= MIN_ORIGINAL_TOKENS
  );
}

export function crawlDocuments(ctx: CrawlContext): CcDoc[] {
  const { seed, size, crawl, crawlIndex } = ctx;
  const rng = Rng.for(seed, crawl, 'plan');
  const ids = Rng.for(seed, crawl, 'ids');
  const docs: CcDoc[] = [];
  const make = (page: Page, url?: string, dup: DupInfo = NO_DUP): CcDoc => {
    const doc: CcDoc = {
      crawl,
      recordId: `<urn:uuid:${ids.uuid()}>`,
      refersTo: `<urn:uuid:${ids.uuid()}>`,
      url: url ?? randomUrl(rng, page.lang, page.topic === '' ? 'page' : rng.pick(topicWords(page.topic))),
      dateMs: ctx.startMs + rng.int(0, 9 * 86_400_000),
      page,
      key: '',
      bodyBytes: Buffer.byteLength(page.text, 'utf8'),
      lost: null,
      ...dup,
    };
    docs.push(doc);
    return doc;
  };
  const nextTarget = (): number => DUP_TARGETS[ctx.counters.near++ % DUP_TARGETS.length] ?? 0.9;
  const copyOf = (
    original: CcDoc | ReferenceDoc,
    target: number,
    scope: DupInfo['dupScope'],
  ): Page & DupInfo => {
    const isCc = 'page' in original;
    const text = isCc ? original.page.text : original.text;
    const copy = target === 1 ? { text, actualJaccard: 1 } : nearDuplicate(rng, text, target);
    const page: Page = isCc ? { ...original.page, text: copy.text } : { ...prosePage(rng), text: copy.text };
    return {
      ...page,
      dupGroup: original.dupGroup,
      dupRole: target === 1 ? 'exact' : 'near',
      targetJaccard: target,
      actualJaccard: copy.actualJaccard,
      dupOf: isCc ? original.recordId : original.id,
      dupOfDataset: isCc ? 'cc' : original.dataset,
      dupScope: scope,
    };
  };
  const plant = (
    original: CcDoc | ReferenceDoc,
    targets: readonly number[],
    scope: DupInfo['dupScope'],
    sameUrl: boolean,
  ): void => {
    const group = `cc-dup-${String(ctx.counters.group++).padStart(5, '0')}`;
    Object.assign(original, { dupGroup: group, dupRole: 'original', dupScope: scope });
    for (const target of targets) {
      const { dupGroup, dupRole, targetJaccard, actualJaccard, dupOf, dupOfDataset, dupScope, ...page } =
        copyOf(original, target, scope);
      const url = sameUrl && 'url' in original ? original.url : undefined;
      make(page, url, { dupGroup, dupRole, targetJaccard, actualJaccard, dupOf, dupOfDataset, dupScope });
    }
  };

  for (let unit = 0; unit < size; unit++) {
    // Within the crawl: an exact mirror, a near copy, and every tenth crawl a cluster of three.
    plant(make(longProse(rng)), [1], 'within_crawl', false);
    plant(make(longProse(rng)), [nextTarget()], 'within_crawl', false);
    if (crawlIndex % 10 === 5)
      plant(make(longProse(rng)), [1, nextTarget(), nextTarget()], 'within_crawl', false);
    // Across crawls: the same URL re-crawled unchanged, and re-crawled after edits.
    const candidates = ctx.previous.filter(isEligibleOriginal);
    const first = candidates[rng.int(0, candidates.length - 1)];
    if (first !== undefined) plant(first, [1], 'cross_crawl', true);
    const second = candidates.filter((d) => d !== first)[rng.int(0, candidates.length - 2)];
    if (second !== undefined) plant(second, [nextTarget()], 'cross_crawl', true);
    // Against WebText2: a page that near-copies (and now and then exactly copies) a WebText2 document.
    for (const target of (crawlIndex + unit) % 3 === 0 ? [nextTarget(), 1] : [nextTarget()]) {
      const original = ctx.webtext[ctx.webtext.length - 1 - (ctx.counters.webtext++ % ctx.webtext.length)];
      if (original === undefined) continue;
      if (original.dupGroup === null)
        Object.assign(original, {
          dupGroup: `cc-dup-${String(ctx.counters.group++).padStart(5, '0')}`,
          dupRole: 'original',
          dupScope: 'webtext',
        });
      const { dupGroup, dupRole, targetJaccard, actualJaccard, dupOf, dupOfDataset, dupScope, ...page } =
        copyOf(original, target, 'webtext');
      make(page, undefined, {
        dupGroup,
        dupRole,
        targetJaccard,
        actualJaccard,
        dupOf,
        dupOfDataset,
        dupScope,
      });
    }
    make(emptyPage());
    if (crawlIndex % 14 === 3) make(giantPage(rng, rng.int(2_000_000, 4_000_000)));
  }
  const total = FILES_PER_SIZE * size * RECORDS_PER_FILE;
  while (docs.length < total) make(randomPage(rng, rng.weighted(KIND_WEIGHTS)));
  return rng.shuffle(docs);
}
