/**
 * Ranged reads of one Common Crawl object over HTTP or S3, with the validators (ETag,
 * Last-Modified, length) that tell a resumable partial file from a stale one.
 */
import { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PermanentSourceError, sourceS3Client, sourceUrl, type Source } from '../commoncrawl-source';

export interface ObjectValidators {
  etag: string | null;
  lastModified: string | null;
  /** The whole object's length. */
  length: number;
}

export interface ObjectResponse {
  /** Where the body starts: the requested offset for a honoured range, 0 for a full body. */
  start: number;
  validators: ObjectValidators;
  body: AsyncIterable<Uint8Array>;
  /** Stops the body without reading it. */
  cancel(): void;
}

/**
 * What kind of transient failure it was, for a quarantine reason: `http_<status>`, `timeout`
 * (no byte for `requestTimeoutMs`), or `connection` (reset, refused, body broken off).
 */
export type TransientCode = `http_${number}` | 'timeout' | 'connection';

/** Worth retrying: throttling (503, SlowDown, 429), server errors, resets, timeouts. */
export class TransientSourceError extends Error {
  constructor(
    message: string,
    readonly throttled: boolean,
    readonly retryAfterMs: number | null = null,
    readonly code: TransientCode = 'connection',
  ) {
    super(message);
    this.name = 'TransientSourceError';
  }
}

/** The object changed under a partial download (412, or 416 past its new end): start again. */
export class ObjectChangedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ObjectChangedError';
  }
}

function parseContentRange(header: string | null): { start: number; total: number } | null {
  const match = /^bytes (\d+)-\d+\/(\d+)$/.exec(header ?? '');
  return match ? { start: Number(match[1]), total: Number(match[2]) } : null;
}

/** A `Retry-After` header's wait: delay-seconds or an HTTP date (RFC 9110, 10.2.3); null if neither. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | null {
  const value = header?.trim() ?? '';
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = /[a-z]/i.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

export interface OpenOptions {
  start: number;
  /** Resume only if the object still has this ETag (or Last-Modified). */
  ifRange: string | null;
  signal?: AbortSignal;
  s3?: S3Client;
  /** Give up on a response that sends nothing (headers or the next body chunk) for this long. */
  idleTimeoutMs?: number;
}

/** Thrown into a request that went quiet for longer than its idle timeout. */
class IdleTimeout extends Error {
  constructor(ms: number) {
    super(`no data for ${ms} ms`);
    this.name = 'IdleTimeout';
  }
}

/**
 * An abort signal that fires when the caller aborts or when `touch()` was not called for
 * `idleMs`: a stalled server is a transient failure, while a slow but steady body is not.
 */
function idleWatch(
  idleMs: number | undefined,
  outer: AbortSignal | undefined,
): { signal: AbortSignal | undefined; touch: () => void; stop: () => void; timedOut: () => boolean } {
  if (!idleMs) return { signal: outer, touch: () => undefined, stop: () => undefined, timedOut: () => false };
  const controller = new AbortController();
  let fired = false;
  let timer: NodeJS.Timeout | undefined;
  const touch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      fired = true;
      controller.abort(new IdleTimeout(idleMs));
    }, idleMs);
  };
  touch();
  const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
  return { signal, touch, stop: () => clearTimeout(timer), timedOut: () => fired };
}

const noResponse = (where: string, idleMs: number | undefined): TransientSourceError =>
  new TransientSourceError(`${where}: no response in ${idleMs} ms`, false, null, 'timeout');

async function* watched(
  body: AsyncIterable<Uint8Array>,
  watch: { touch: () => void; stop: () => void; timedOut: () => boolean },
  idleMs: number | undefined,
  url: string,
): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) {
      watch.touch();
      yield chunk;
    }
  } catch (error) {
    if (watch.timedOut())
      throw new TransientSourceError(
        `${url}: body stalled, no data for ${idleMs} ms`,
        false,
        null,
        'timeout',
      );
    throw error;
  } finally {
    watch.stop();
  }
}

async function openHttp(
  source: Extract<Source, { kind: 'http' }>,
  key: string,
  opts: OpenOptions,
): Promise<ObjectResponse> {
  const url = sourceUrl(source, key);
  const headers: Record<string, string> = {};
  if (opts.start > 0) {
    headers.range = `bytes=${opts.start}-`;
    if (opts.ifRange) headers['if-range'] = opts.ifRange;
  }
  const watch = idleWatch(opts.idleTimeoutMs, opts.signal);
  let response: Response;
  try {
    response = await fetch(url, { headers, ...(watch.signal ? { signal: watch.signal } : {}) });
  } catch (error) {
    watch.stop();
    if (watch.timedOut()) throw noResponse(url, opts.idleTimeoutMs);
    if (opts.signal?.aborted) throw error;
    throw new TransientSourceError(`${url}: ${(error as Error).message}`, false);
  }
  watch.touch();
  const status = response.status;
  if (status !== 200 && status !== 206) watch.stop();
  if (status === 404 || status === 403) {
    await response.body?.cancel();
    throw new PermanentSourceError(`HTTP ${status} for ${url}`, status);
  }
  if (status === 416) {
    await response.body?.cancel();
    throw new ObjectChangedError(`416 for ${url} from byte ${opts.start}`);
  }
  if (status === 429 || status >= 500) {
    const text = await response.text().catch(() => '');
    const throttled = status === 429 || status === 503 || text.includes('SlowDown');
    throw new TransientSourceError(
      `HTTP ${status}${text.includes('SlowDown') ? ' SlowDown' : ''} for ${url}`,
      throttled,
      retryAfterMs(response.headers.get('retry-after')),
      `http_${status}`,
    );
  }
  if (!response.ok || !response.body) {
    watch.stop();
    throw new TransientSourceError(`HTTP ${status} for ${url}`, false, null, `http_${status}`);
  }
  const etag = response.headers.get('etag');
  const lastModified = response.headers.get('last-modified');
  const length = Number(response.headers.get('content-length'));
  const range = status === 206 ? parseContentRange(response.headers.get('content-range')) : null;
  if (status === 206 && (!range || range.start !== opts.start)) {
    watch.stop();
    await response.body.cancel();
    throw new ObjectChangedError(`unexpected Content-Range for ${url}`);
  }
  return {
    start: range ? range.start : 0,
    validators: { etag, lastModified, length: range ? range.total : length },
    // Iterated as a web stream: wrapping it in Readable.fromWeb re-emits a broken-off body as
    // an unhandled 'error' event after the iterator has already rejected.
    body: watched(response.body, watch, opts.idleTimeoutMs, url),
    cancel: () => {
      watch.stop();
      void response.body?.cancel().catch(() => undefined);
    },
  };
}

async function openS3(
  source: Extract<Source, { kind: 's3' }>,
  key: string,
  opts: OpenOptions,
): Promise<ObjectResponse> {
  if (!opts.s3) throw new Error('an S3 client is needed for an S3 source');
  const where = `s3://${source.bucket}/${source.prefix}${key}`;
  // The same idle timeout as HTTP: a response or body that stalls is a transient failure.
  const watch = idleWatch(opts.idleTimeoutMs, opts.signal);
  try {
    const out = await opts.s3.send(
      new GetObjectCommand({
        Bucket: source.bucket,
        Key: source.prefix + key,
        ...(opts.start > 0 ? { Range: `bytes=${opts.start}-` } : {}),
        ...(opts.start > 0 && opts.ifRange?.startsWith('"') ? { IfMatch: opts.ifRange } : {}),
      }),
      watch.signal ? { abortSignal: watch.signal } : {},
    );
    watch.touch();
    const body = out.Body as Readable;
    // The SDK may no longer listen to the signal once the response has begun: end the body too.
    watch.signal?.addEventListener('abort', () => body.destroy(new Error('aborted')), { once: true });
    const range = parseContentRange(out.ContentRange ?? null);
    return {
      start: range ? range.start : 0,
      validators: {
        etag: out.ETag ?? null,
        lastModified: out.LastModified?.toUTCString() ?? null,
        length: range ? range.total : Number(out.ContentLength),
      },
      body: watched(body, watch, opts.idleTimeoutMs, where),
      cancel: () => {
        watch.stop();
        body.destroy();
      },
    };
  } catch (error) {
    watch.stop();
    if (opts.signal?.aborted) throw error;
    if (watch.timedOut()) throw noResponse(where, opts.idleTimeoutMs);
    const meta = error as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
    const status = meta.$metadata?.httpStatusCode ?? 0;
    if (status === 404 || status === 403) throw new PermanentSourceError(`S3 ${status} for ${where}`, status);
    if (status === 412 || status === 416) throw new ObjectChangedError(`S3 ${status} for ${where}`);
    const throttled = status === 503 || status === 429 || meta.name === 'SlowDown';
    throw new TransientSourceError(
      `S3 ${status || meta.name} for ${where}: ${meta.message ?? ''}`,
      throttled,
      null,
      status ? `http_${status}` : meta.name === 'TimeoutError' ? 'timeout' : 'connection',
    );
  }
}

export function openObject(source: Source, key: string, opts: OpenOptions): Promise<ObjectResponse> {
  return source.kind === 'http' ? openHttp(source, key, opts) : openS3(source, key, opts);
}

/** A whole (small) object, such as a paths list. */
export async function fetchObject(source: Source, key: string): Promise<Buffer> {
  const s3 = sourceS3Client(source);
  try {
    const response = await openObject(source, key, { start: 0, ifRange: null, ...(s3 ? { s3 } : {}) });
    const chunks: Uint8Array[] = [];
    for await (const chunk of response.body) chunks.push(chunk);
    return Buffer.concat(chunks);
  } finally {
    s3?.destroy();
  }
}
