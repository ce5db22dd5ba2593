/**
 * Where things go and what they are called: crawl dates from the crawl id, segment ids, WET file
 * names in the form of their era, URLs.
 */
import { crawlHasLanguageHeader } from '../../config/crawls';
import { Rng } from './prng';
import { inventedName, plural } from './text';

const DAY = 86_400_000;

/** Monday of ISO week `week` of `year`, in ms since the epoch (UTC). */
function isoWeekMonday(year: number, week: number): number {
  const jan4 = Date.UTC(year, 0, 4);
  const jan4Weekday = (new Date(jan4).getUTCDay() + 6) % 7; // Monday = 0
  return jan4 - jan4Weekday * DAY + (week - 1) * 7 * DAY;
}

/** A crawl's fetches run over the ~10 days before the week in its id. */
export function crawlStartMs(crawl: string): number {
  const match = /^CC-MAIN-(\d{4})-(\d{2})$/.exec(crawl);
  if (match === null) throw new Error(`not a crawl id: ${crawl}`);
  return isoWeekMonday(Number(match[1]), Number(match[2])) - 10 * DAY;
}

export const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const compact = (ms: number): string => isoSeconds(ms).replace(/[-:TZ]/g, '');

export interface WetFileName {
  key: string;
  filename: string;
  /** Time the WET file was extracted (warcinfo WARC-Date). */
  extractedMs: number;
}

/** The `file`-th WET file of a crawl, in its own segment. */
export function wetFileName(seed: number, crawl: string, file: number): WetFileName {
  const rng = Rng.for(seed, crawl, 'segment', file);
  const startMs = crawlStartMs(crawl) + file * 3_600_000 + rng.int(0, 3_000_000);
  const segment = `${Math.floor(startMs / 1000) * 1000 + rng.int(0, 999)}.${file % 100}`;
  const number = String(file).padStart(5, '0');
  const filename = crawlHasLanguageHeader(crawl)
    ? `CC-MAIN-${compact(startMs)}-${compact(startMs + 7_200_000)}-${number}.warc.wet.gz`
    : `CC-MAIN-${compact(startMs)}-${number}-ip-10-${rng.int(0, 255)}-${rng.int(0, 255)}-${rng.int(0, 255)}.ec2.internal.warc.wet.gz`;
  return {
    key: `crawl-data/${crawl}/segments/${segment}/wet/${filename}`,
    filename,
    extractedMs: crawlStartMs(crawl) + 12 * DAY + file * 60_000,
  };
}

const TLDS: Readonly<Record<string, readonly string[]>> = {
  eng: ['com', 'org', 'net', 'co.uk', 'info', 'blog'],
  deu: ['de', 'at', 'ch'],
  spa: ['es', 'com.mx', 'com.ar'],
};

export function randomUrl(rng: Rng, lang: string | null, topicWord: string): string {
  const host = `${rng.chance(0.5) ? 'www.' : ''}${inventedName(rng).toLowerCase()}${rng.chance(0.3) ? inventedName(rng).toLowerCase() : ''}`;
  const tld = rng.pick(TLDS[lang ?? 'eng'] ?? TLDS.eng ?? ['com']);
  const path = rng.pick([
    `/${plural(topicWord)}/${rng.int(1, 99999)}`,
    `/${rng.int(2008, 2019)}/${String(rng.int(1, 12)).padStart(2, '0')}/${topicWord}-${inventedName(rng).toLowerCase()}/`,
    `/article/${rng.hex(8)}.html`,
    `/?p=${rng.int(1, 20000)}`,
    `/${topicWord}`,
  ]);
  return `${rng.chance(0.6) ? 'https' : 'http'}://${host}.${tld}${path}`;
}
