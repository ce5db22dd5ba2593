/**
 * Serialise WET files the way Common Crawl writes them: one gzip member per record, a `warcinfo`
 * record first, then `conversion` records; `WARC/1.0` header blocks with CRLF line endings, the
 * body, then CRLF CRLF. Header order follows the real files (see ../shared/data/wet).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { crawlHasLanguageHeader } from '../../config/crawls';

/** Fixed so that the same records always give the same bytes. */
export const GZIP_LEVEL = 6;

export type WarcHeaders = ReadonlyArray<readonly [name: string, value: string]>;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, with `=` padding (a sha1 is 20 bytes, 32 characters, no padding). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

/** `sha1:` + base32 of the sha1 of the block, as in `WARC-Block-Digest`. */
export function blockDigest(body: Uint8Array): string {
  return `sha1:${base32(createHash('sha1').update(body).digest())}`;
}

/** One uncompressed record: version line, headers, blank line, body, CRLF CRLF. */
export function serializeRecord(headers: WarcHeaders, body: Buffer): Buffer {
  const head = ['WARC/1.0', ...headers.map(([name, value]) => `${name}: ${value}`)].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'utf8'), body, Buffer.from('\r\n\r\n', 'latin1')]);
}

export function gzipMember(record: Buffer): Buffer {
  return gzipSync(record, { level: GZIP_LEVEL });
}

export interface WarcinfoFields {
  crawl: string;
  /** ISO second precision, e.g. `2017-01-24T10:14:59Z`. */
  date: string;
  filename: string;
  recordId: string;
  softwareInfo: string;
  description: string;
}

/** RFC 1123 date of an ISO date, as in `Extracted-Date`. */
function httpDate(iso: string): string {
  return new Date(iso).toUTCString();
}

export function warcinfoRecord(info: WarcinfoFields): Buffer {
  const fields = [
    `Software-Info: ${info.softwareInfo}`,
    `Extracted-Date: ${httpDate(info.date)}`,
    `robots: checked via crawler-commons 1.0-SNAPSHOT (https://github.com/crawler-commons/crawler-commons)`,
    `isPartOf: ${info.crawl}`,
    'operator: Common Crawl Admin',
    `description: ${info.description}`,
    'publisher: Common Crawl',
  ];
  const body = Buffer.from(`${fields.join('\r\n')}\r\n\r\n`, 'utf8');
  return serializeRecord(
    [
      ['WARC-Type', 'warcinfo'],
      ['WARC-Date', info.date],
      ['WARC-Filename', info.filename],
      ['WARC-Record-ID', info.recordId],
      ['Content-Type', 'application/warc-fields'],
      ['Content-Length', String(body.length)],
    ],
    body,
  );
}

export interface ConversionFields {
  targetUri: string;
  date: string;
  /** `<urn:uuid:…>` */
  recordId: string;
  refersTo: string;
  /** ISO 639-3 code(s), e.g. `eng` or `deu,eng`; written only for crawls that carry the header. */
  language: string | null;
  body: Buffer;
  /** Override the declared length (used only to plant broken records). */
  contentLength?: number;
}

export function conversionHeaders(crawl: string, rec: ConversionFields): Array<[string, string]> {
  const headers: Array<[string, string]> = [
    ['WARC-Type', 'conversion'],
    ['WARC-Target-URI', rec.targetUri],
    ['WARC-Date', rec.date],
    ['WARC-Record-ID', rec.recordId],
    ['WARC-Refers-To', rec.refersTo],
    ['WARC-Block-Digest', blockDigest(rec.body)],
  ];
  if (rec.language !== null && crawlHasLanguageHeader(crawl)) {
    headers.push(['WARC-Identified-Content-Language', rec.language]);
  }
  headers.push(
    ['Content-Type', 'text/plain'],
    ['Content-Length', String(rec.contentLength ?? rec.body.length)],
  );
  return headers;
}

export function conversionRecord(crawl: string, rec: ConversionFields): Buffer {
  return serializeRecord(conversionHeaders(crawl, rec), rec.body);
}

/** The gzip members of a whole WET file, warcinfo first; concatenate them for the file. */
export function wetFileMembers(info: WarcinfoFields, records: readonly ConversionFields[]): Buffer[] {
  return [
    gzipMember(warcinfoRecord(info)),
    ...records.map((rec) => gzipMember(conversionRecord(info.crawl, rec))),
  ];
}
