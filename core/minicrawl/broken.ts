/**
 * Deliberately broken WET files. Each kind damages one file so that the records listed as lost
 * cannot be read and every other record still can.
 */
import type { WetProblem } from '../warc/wet-reader';

export type Breakage = 'truncated_gzip' | 'bad_content_length' | 'garbage_tail' | 'corrupt_gzip';
export const BREAKAGES: readonly Breakage[] = [
  'truncated_gzip',
  'bad_content_length',
  'garbage_tail',
  'corrupt_gzip',
];

export const BREAKAGE_DESCRIPTION: Readonly<Record<Breakage, string>> = {
  truncated_gzip: 'the last gzip member is cut at 60% of its bytes (an interrupted download)',
  bad_content_length: 'one record declares a Content-Length 7 bytes longer than its body',
  garbage_tail: 'an HTML error page (not gzip) is appended after the last member',
  corrupt_gzip: '16 bytes in the middle of one member are inverted (bit rot)',
};

/** The reason the project's reader counts for each kind. */
export const EXPECTED_PROBLEM: Readonly<Record<Breakage, WetProblem>> = {
  truncated_gzip: 'truncated_gzip',
  bad_content_length: 'bad_content_length',
  garbage_tail: 'garbage_tail',
  corrupt_gzip: 'corrupt_gzip',
};

/** Which conversion record (0-based, in file order) is lost, or null if none. */
export function lostRecordIndex(kind: Breakage, records: number): number | null {
  switch (kind) {
    case 'truncated_gzip':
      return records - 1;
    case 'bad_content_length':
      return Math.floor(records / 2);
    case 'corrupt_gzip':
      return Math.floor(records / 3);
    case 'garbage_tail':
      return null;
  }
}

/**
 * Place breakage k: at most one broken file per crawl, spread over the crawl list, so every crawl
 * keeps intact files. With fewer than four crawls only the first `crawls` kinds are planted.
 */
export function breakagePlacement(
  k: number,
  crawls: number,
  files: number,
): { crawl: number; file: number } | null {
  if (k >= crawls) return null;
  return { crawl: Math.floor((k * crawls) / Math.min(crawls, BREAKAGES.length)), file: k % files };
}

const GARBAGE = Buffer.from(
  '<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1>' +
    '<p>The server is temporarily unable to service your request. Please try again later.</p></body></html>\n',
  'latin1',
);

/** Damage the gzip members of a file (warcinfo is member 0, record i is member i + 1). */
export function applyBreakage(kind: Breakage, members: Buffer[]): Buffer {
  const out = members.map((m) => Buffer.from(m));
  switch (kind) {
    case 'truncated_gzip': {
      const last = out.length - 1;
      const member = out[last];
      if (member !== undefined) out[last] = member.subarray(0, Math.floor(member.length * 0.6));
      break;
    }
    case 'corrupt_gzip': {
      const index = (lostRecordIndex(kind, out.length - 1) ?? 0) + 1;
      const member = out[index];
      if (member === undefined) break;
      const start = 10 + Math.floor((member.length - 18 - 16) / 2);
      for (let i = start; i < start + 16; i++) member[i] = (member[i] ?? 0) ^ 0xff;
      break;
    }
    case 'garbage_tail':
      out.push(Buffer.concat(Array.from({ length: 12 }, () => GARBAGE)));
      break;
    case 'bad_content_length':
      break; // written by the record writer with a wrong length
  }
  return Buffer.concat(out);
}
