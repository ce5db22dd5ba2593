/**
 * A streaming WET/WARC reader. Reads a Buffer or a file path, gzip (one or more members, the
 * Common Crawl layout of one member per record) or plain. Yields every record it can read and
 * counts each problem by reason instead of stopping:
 *   truncated_gzip   the input ends inside a gzip member
 *   corrupt_gzip     a member fails to inflate or its CRC/size trailer is wrong (skips to the next member)
 *   garbage_tail     bytes after the last member that are not gzip
 *   garbage_between_members  non-gzip bytes followed by another member
 *   malformed_header no `WARC/` version line, a header line without a colon, a bad Content-Length
 *   bad_content_length  the declared length does not end at the record terminator
 *   digest_mismatch  WARC-Block-Digest does not match the body (the record is still yielded)
 * A gzip member holds whole records: a record that runs past its member counts as bad_content_length.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { crc32, inflateRawSync } from 'node:zlib';
import { blockDigest } from './wet-writer';

export interface WetRecord {
  /** Ordered, names as written. Use {@link header} for case-insensitive lookup. */
  headers: Array<[string, string]>;
  body: Buffer;
  /** Byte offset in the file of the gzip member (or, for plain files, of the record). */
  offset: number;
  /** null when the record carries no WARC-Block-Digest or verification is off. */
  digestOk: boolean | null;
}

export type WetProblem =
  | 'truncated_gzip'
  | 'corrupt_gzip'
  | 'garbage_tail'
  | 'garbage_between_members'
  | 'malformed_header'
  | 'bad_content_length'
  | 'digest_mismatch';

export interface WetReaderOptions {
  verifyDigests?: boolean;
  /** Bytes read from a file at a time. */
  chunkSize?: number;
}

export function header(record: Pick<WetRecord, 'headers'>, name: string): string | undefined {
  const lower = name.toLowerCase();
  return record.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

const GZIP_MAGIC = [0x1f, 0x8b, 0x08] as const;
const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');
const VERSION_LINE = Buffer.from('WARC/', 'latin1');

/** Bytes from a Buffer or a file, read forward in chunks; only the unread part is kept. */
class ByteWindow {
  private buf: Buffer = Buffer.alloc(0);
  /** File offset of buf[0]. */
  base = 0;
  eof: boolean;
  private readonly chunk: number;

  private constructor(
    private readonly file: FileHandle | null,
    initial: Buffer,
    chunk: number,
  ) {
    this.buf = initial;
    this.eof = file === null;
    this.chunk = chunk;
  }

  static async of(source: Buffer | string, chunk: number): Promise<ByteWindow> {
    if (typeof source !== 'string') return new ByteWindow(null, source, chunk);
    return new ByteWindow(await open(source, 'r'), Buffer.alloc(0), chunk);
  }

  get bytes(): Buffer {
    return this.buf;
  }

  /** Read at least `min` more bytes (or to EOF). Returns false at EOF. */
  async more(min = this.chunk): Promise<boolean> {
    if (this.eof || this.file === null) return false;
    const want = Math.max(min, this.chunk);
    const fresh = Buffer.alloc(want);
    const { bytesRead } = await this.file.read(fresh, 0, want, this.base + this.buf.length);
    if (bytesRead === 0) {
      this.eof = true;
      return false;
    }
    this.buf = Buffer.concat([this.buf, fresh.subarray(0, bytesRead)]);
    return true;
  }

  /** Make sure `n` bytes are available if the input has them. */
  async ensure(n: number): Promise<void> {
    while (this.buf.length < n && (await this.more(n - this.buf.length))) {
      /* keep reading */
    }
  }

  consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.base += n;
  }

  async close(): Promise<void> {
    await this.file?.close();
  }
}

function isGzipAt(buf: Buffer, at: number): boolean {
  return buf[at] === GZIP_MAGIC[0] && buf[at + 1] === GZIP_MAGIC[1] && buf[at + 2] === GZIP_MAGIC[2];
}

/** Length of a gzip member header (RFC 1952), or null if `buf` is too short to tell. */
function gzipHeaderLength(buf: Buffer): number | null {
  if (buf.length < 10) return null;
  const flags = buf[3] ?? 0;
  let at = 10;
  if (flags & 4) {
    if (buf.length < at + 2) return null;
    at += 2 + buf.readUInt16LE(at);
  }
  for (const bit of [8, 16]) {
    if (flags & bit) {
      const end = buf.indexOf(0, at);
      if (end < 0) return null;
      at = end + 1;
    }
  }
  if (flags & 2) at += 2;
  return at <= buf.length ? at : null;
}

type MemberResult =
  { kind: 'ok'; data: Buffer; length: number } | { kind: 'truncated' } | { kind: 'corrupt' };

function inflateMember(buf: Buffer, eof: boolean): MemberResult | 'need_more' {
  const headerLength = gzipHeaderLength(buf);
  if (headerLength === null) return eof ? { kind: 'truncated' } : 'need_more';
  let out: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    out = inflateRawSync(buf.subarray(headerLength), { info: true }) as unknown as typeof out;
  } catch (err) {
    if ((err as { code?: string }).code === 'Z_BUF_ERROR') return eof ? { kind: 'truncated' } : 'need_more';
    return { kind: 'corrupt' };
  }
  const trailerAt = headerLength + out.engine.bytesWritten;
  if (buf.length < trailerAt + 8) return eof ? { kind: 'truncated' } : 'need_more';
  const crcOk = buf.readUInt32LE(trailerAt) === crc32(out.buffer) >>> 0;
  const sizeOk = buf.readUInt32LE(trailerAt + 4) === out.buffer.length % 2 ** 32;
  if (!crcOk || !sizeOk) return { kind: 'corrupt' };
  return { kind: 'ok', data: out.buffer, length: trailerAt + 8 };
}

interface ParsedHead {
  headers: Array<[string, string]>;
  bodyStart: number;
  contentLength: number;
}

/** Parse a header block at `at`; 'need_more' if its end is not in `buf` yet. */
function parseHead(buf: Buffer, at: number, eof: boolean): ParsedHead | 'malformed' | 'need_more' {
  const end = buf.indexOf(CRLF2, at);
  if (end < 0) return eof ? 'malformed' : 'need_more';
  const lines = buf.subarray(at, end).toString('utf8').split('\r\n');
  if (!(lines[0] ?? '').startsWith('WARC/')) return 'malformed';
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return 'malformed';
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  const lengthText = headers.find(([n]) => n.toLowerCase() === 'content-length')?.[1] ?? '';
  if (!/^\d+$/.test(lengthText)) return 'malformed';
  return { headers, bodyStart: end + 4, contentLength: Number(lengthText) };
}

export class WetReader implements AsyncIterable<WetRecord> {
  readonly problems: Partial<Record<WetProblem, number>> = {};
  records = 0;
  members = 0;
  bytes = 0;
  private readonly verify: boolean;
  private readonly chunk: number;

  constructor(
    private readonly source: Buffer | string,
    options: WetReaderOptions = {},
  ) {
    this.verify = options.verifyDigests ?? true;
    this.chunk = options.chunkSize ?? 1 << 20;
  }

  private count(problem: WetProblem): void {
    this.problems[problem] = (this.problems[problem] ?? 0) + 1;
  }

  private finish(headers: Array<[string, string]>, body: Buffer, offset: number): WetRecord {
    let digestOk: boolean | null = null;
    const declared = header({ headers }, 'WARC-Block-Digest');
    if (this.verify && declared !== undefined && declared.toLowerCase().startsWith('sha1:')) {
      digestOk = declared.toUpperCase() === blockDigest(body).toUpperCase();
      if (!digestOk) this.count('digest_mismatch');
    }
    this.records += 1;
    return { headers, body: Buffer.from(body), offset, digestOk };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WetRecord> {
    const win = await ByteWindow.of(this.source, this.chunk);
    try {
      await win.ensure(3);
      yield* isGzipAt(win.bytes, 0) ? this.readGzip(win) : this.readPlain(win);
      this.bytes = win.base + win.bytes.length;
    } finally {
      await win.close();
    }
  }

  /** Records inside one member's data; a record must end inside the member. */
  private *recordsOfMember(data: Buffer, offset: number): Generator<WetRecord> {
    let at = 0;
    while (at < data.length) {
      const head = parseHead(data, at, true);
      if (head === 'need_more' || head === 'malformed') {
        this.count('malformed_header');
        return;
      }
      const end = head.bodyStart + head.contentLength;
      if (end + 4 > data.length || !data.subarray(end, end + 4).equals(CRLF2)) {
        this.count('bad_content_length');
        return;
      }
      yield this.finish(head.headers, data.subarray(head.bodyStart, end), offset);
      at = end + 4;
    }
  }

  private async *readGzip(win: ByteWindow): AsyncGenerator<WetRecord> {
    for (;;) {
      await win.ensure(10);
      if (win.bytes.length === 0) return;
      if (!isGzipAt(win.bytes, 0)) {
        // Skip to the next gzip magic, if any.
        let next = -1;
        for (;;) {
          next = win.bytes.indexOf(GZIP_MAGIC[0], 1);
          while (next >= 0 && !isGzipAt(win.bytes, next) && next + 3 <= win.bytes.length) {
            next = win.bytes.indexOf(GZIP_MAGIC[0], next + 1);
          }
          if (next >= 0 && next + 3 <= win.bytes.length) break;
          const kept = win.bytes.length;
          if (!(await win.more())) break;
          if (win.bytes.length === kept) break;
        }
        if (next < 0 || next + 3 > win.bytes.length) {
          this.count('garbage_tail');
          win.consume(win.bytes.length);
          return;
        }
        this.count('garbage_between_members');
        win.consume(next);
        continue;
      }
      const offset = win.base;
      let result = inflateMember(win.bytes, win.eof);
      while (result === 'need_more') {
        await win.more(win.bytes.length);
        result = inflateMember(win.bytes, win.eof);
      }
      if (result.kind === 'truncated' && win.bytes.indexOf(Buffer.from(GZIP_MAGIC), 1) >= 0) {
        result = { kind: 'corrupt' }; // a broken member followed by more members: resynchronise
      }
      if (result.kind === 'truncated') {
        this.count('truncated_gzip');
        win.consume(win.bytes.length);
        return;
      }
      if (result.kind === 'corrupt') {
        this.count('corrupt_gzip');
        win.consume(1); // resynchronise on the next gzip magic
        const next = win.bytes.indexOf(Buffer.from(GZIP_MAGIC));
        win.consume(next < 0 ? win.bytes.length : next);
        if (next < 0) {
          while (await win.more()) {
            const again = win.bytes.indexOf(Buffer.from(GZIP_MAGIC));
            win.consume(again < 0 ? Math.max(0, win.bytes.length - 2) : again);
            if (again >= 0) break;
          }
        }
        continue;
      }
      this.members += 1;
      win.consume(result.length);
      yield* this.recordsOfMember(result.data, offset);
    }
  }

  private async *readPlain(win: ByteWindow): AsyncGenerator<WetRecord> {
    for (;;) {
      await win.ensure(VERSION_LINE.length);
      if (win.bytes.length === 0) return;
      let head = parseHead(win.bytes, 0, win.eof);
      while (head === 'need_more') {
        await win.more();
        head = parseHead(win.bytes, 0, win.eof);
      }
      const offset = win.base;
      if (head === 'malformed') {
        this.count('malformed_header');
        if (!(await this.resync(win))) return;
        continue;
      }
      const end = head.bodyStart + head.contentLength;
      await win.ensure(end + 4);
      if (end + 4 > win.bytes.length || !win.bytes.subarray(end, end + 4).equals(CRLF2)) {
        this.count('bad_content_length');
        if (!(await this.resync(win))) return;
        continue;
      }
      const record = this.finish(head.headers, win.bytes.subarray(head.bodyStart, end), offset);
      win.consume(end + 4);
      yield record;
    }
  }

  /** Skip to the next line that starts a record (`WARC/1.` after a newline); false at EOF. */
  private async resync(win: ByteWindow): Promise<boolean> {
    const marker = Buffer.from('\nWARC/1.', 'latin1');
    for (;;) {
      const next = win.bytes.indexOf(marker, 1);
      if (next >= 0) {
        win.consume(next + 1);
        return true;
      }
      win.consume(Math.max(0, win.bytes.length - marker.length));
      if (!(await win.more())) {
        win.consume(win.bytes.length);
        return false;
      }
    }
  }
}

/** Read a whole WET file into memory (tests and small files). */
export async function readWetFile(
  source: Buffer | string,
  options: WetReaderOptions = {},
): Promise<{ records: WetRecord[]; problems: Partial<Record<WetProblem, number>> }> {
  const reader = new WetReader(source, options);
  const records: WetRecord[] = [];
  for await (const record of reader) records.push(record);
  return { records, problems: reader.problems };
}
