/**
 * Common Crawl monthly crawls of 2016–2019. The paper says "41 shards of monthly CommonCrawl
 * covering 2016 to 2019" and never names them; there were 45 such crawls.
 */
export const CRAWLS_2016_2019 = [
  'CC-MAIN-2016-07',
  'CC-MAIN-2016-18',
  'CC-MAIN-2016-22',
  'CC-MAIN-2016-26',
  'CC-MAIN-2016-30',
  'CC-MAIN-2016-36',
  'CC-MAIN-2016-40',
  'CC-MAIN-2016-44',
  'CC-MAIN-2016-50',
  'CC-MAIN-2017-04',
  'CC-MAIN-2017-09',
  'CC-MAIN-2017-13',
  'CC-MAIN-2017-17',
  'CC-MAIN-2017-22',
  'CC-MAIN-2017-26',
  'CC-MAIN-2017-30',
  'CC-MAIN-2017-34',
  'CC-MAIN-2017-39',
  'CC-MAIN-2017-43',
  'CC-MAIN-2017-47',
  'CC-MAIN-2017-51',
  'CC-MAIN-2018-05',
  'CC-MAIN-2018-09',
  'CC-MAIN-2018-13',
  'CC-MAIN-2018-17',
  'CC-MAIN-2018-22',
  'CC-MAIN-2018-26',
  'CC-MAIN-2018-30',
  'CC-MAIN-2018-34',
  'CC-MAIN-2018-39',
  'CC-MAIN-2018-43',
  'CC-MAIN-2018-47',
  'CC-MAIN-2018-51',
  'CC-MAIN-2019-04',
  'CC-MAIN-2019-09',
  'CC-MAIN-2019-13',
  'CC-MAIN-2019-18',
  'CC-MAIN-2019-22',
  'CC-MAIN-2019-26',
  'CC-MAIN-2019-30',
  'CC-MAIN-2019-35',
  'CC-MAIN-2019-39',
  'CC-MAIN-2019-43',
  'CC-MAIN-2019-47',
  'CC-MAIN-2019-51',
] as const;

/**
 * The default 41: a documented guess. GPT-3's data was prepared in late 2019 / early 2020, so we
 * assume the four crawls published from September 2019 on (2019-39 … 2019-51) were not yet in
 * it. The list is configuration; override `crawls` to choose others.
 */
export const DEFAULT_CRAWLS: readonly string[] = CRAWLS_2016_2019.slice(0, 41);

/** WET records carry `WARC-Identified-Content-Language` from this crawl on. */
export const FIRST_CRAWL_WITH_LANGUAGE = 'CC-MAIN-2018-34';

/** Crawl ids sort chronologically as strings (CC-MAIN-YYYY-WW). */
export function crawlHasLanguageHeader(crawl: string): boolean {
  return crawl >= FIRST_CRAWL_WITH_LANGUAGE;
}

export const CRAWL_ID_PATTERN = /^CC-MAIN-\d{4}-\d{2}$/;
