/**
 * How crawls are cut into extraction jobs. A job is one committed Spark stage, so its crawls are
 * redone together after a failure, and each job pays Spark's fixed cost once (about 1.5 s on a
 * warm local job server, more on a cluster). A crawl at the paper's size (about 1 TB) is a job
 * of its own under any sensible bound; small crawls (the miniature crawl's are 130 KB) share one.
 * Free of Node built-ins: the workflow calls it.
 */

export interface DownloadedCrawl {
  crawl: string;
  /** The inventory its download child wrote (storage-relative). */
  inventory: string;
  /** Bytes it published (verified and kept). */
  bytes: number;
}

export interface ExtractJob {
  /** The stage name's suffix: the crawl, or `<first>-to-<last>` for several. */
  key: string;
  crawls: DownloadedCrawl[];
}

/**
 * Neighbouring crawls (in the order given) share a job while their bytes stay within
 * `maxBytesPerJob`; a crawl larger than that is a job alone. The same crawls and bytes always
 * give the same jobs, so a re-run finds the commits of the first.
 */
export function extractJobs(crawls: readonly DownloadedCrawl[], maxBytesPerJob: number): ExtractJob[] {
  const groups: DownloadedCrawl[][] = [];
  let current: DownloadedCrawl[] = [];
  let bytes = 0;
  for (const crawl of crawls) {
    if (current.length > 0 && bytes + crawl.bytes > maxBytesPerJob) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(crawl);
    bytes += crawl.bytes;
  }
  if (current.length > 0) groups.push(current);
  return groups.map((group) => ({ key: jobKey(group), crawls: group }));
}

/** One job per crawl, as runs recorded before jobs were grouped scheduled them. */
export function extractJobPerCrawl(crawls: readonly DownloadedCrawl[]): ExtractJob[] {
  return crawls.map((crawl) => ({ key: crawl.crawl, crawls: [crawl] }));
}

function jobKey(group: readonly DownloadedCrawl[]): string {
  const first = group[0]?.crawl ?? '';
  const last = group.at(-1)?.crawl ?? '';
  return group.length === 1 ? first : `${first}-to-${last}`;
}
