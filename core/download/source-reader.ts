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

/** Worth retrying: throttling (503, SlowDown, 429), server errors, resets, timeouts. */
export class TransientSourceError extends Error {
  constructor(
    message: string,
    readonly throttled: boolean,
    readonly retryAfterMs: number | null = null,
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

function retryAfterMs(header: string | null | undefined): number | null {
  const seconds = Number(header);
  return header && Number.isFinite(seconds) ? seconds * 1000 : null;
}

export interface OpenOptions {
  start: number;
  /** Resume only if the object still has this ETag (or Last-Modified). */
  ifRange: string | null;
  signal?: AbortSignal;
  s3?: S3Client;
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
  let response: Response;
  try {
    response = await fetch(url, { headers, ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (error) {
    if (opts.signal?.aborted) throw error;
    throw new TransientSourceError(`${url}: ${(error as Error).message}`, false);
  }
  const status = response.status;
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
    );
  }
  if (!response.ok || !response.body) throw new TransientSourceError(`HTTP ${status} for ${url}`, false);
  const etag = response.headers.get('etag');
  const lastModified = response.headers.get('last-modified');
  const length = Number(response.headers.get('content-length'));
  const range = status === 206 ? parseContentRange(response.headers.get('content-range')) : null;
  if (status === 206 && (!range || range.start !== opts.start)) {
    await response.body.cancel();
    throw new ObjectChangedError(`unexpected Content-Range for ${url}`);
  }
  return {
    start: range ? range.start : 0,
    validators: { etag, lastModified, length: range ? range.total : length },
    // Iterated as a web stream: wrapping it in Readable.fromWeb re-emits a broken-off body as
    // an unhandled 'error' event after the iterator has already rejected.
    body: response.body as unknown as AsyncIterable<Uint8Array>,
    cancel: () => void response.body?.cancel().catch(() => undefined),
  };
}

async function openS3(
  source: Extract<Source, { kind: 's3' }>,
  key: string,
  opts: OpenOptions,
): Promise<ObjectResponse> {
  if (!opts.s3) throw new Error('an S3 client is needed for an S3 source');
  const where = `s3://${source.bucket}/${source.prefix}${key}`;
  try {
    const out = await opts.s3.send(
      new GetObjectCommand({
        Bucket: source.bucket,
        Key: source.prefix + key,
        ...(opts.start > 0 ? { Range: `bytes=${opts.start}-` } : {}),
        ...(opts.start > 0 && opts.ifRange?.startsWith('"') ? { IfMatch: opts.ifRange } : {}),
      }),
      opts.signal ? { abortSignal: opts.signal } : {},
    );
    const range = parseContentRange(out.ContentRange ?? null);
    return {
      start: range ? range.start : 0,
      validators: {
        etag: out.ETag ?? null,
        lastModified: out.LastModified?.toUTCString() ?? null,
        length: range ? range.total : Number(out.ContentLength),
      },
      body: out.Body as Readable,
      cancel: () => (out.Body as Readable).destroy(),
    };
  } catch (error) {
    if (opts.signal?.aborted) throw error;
    const meta = error as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
    const status = meta.$metadata?.httpStatusCode ?? 0;
    if (status === 404 || status === 403) throw new PermanentSourceError(`S3 ${status} for ${where}`, status);
    if (status === 412 || status === 416) throw new ObjectChangedError(`S3 ${status} for ${where}`);
    const throttled = status === 503 || status === 429 || meta.name === 'SlowDown';
    throw new TransientSourceError(
      `S3 ${status || meta.name} for ${where}: ${meta.message ?? ''}`,
      throttled,
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
