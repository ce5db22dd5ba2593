/**
 * Downloads one object into a partial file that survives restarts: a retry continues with a
 * Range request from what is on disk, unless the object changed or the server ignores ranges.
 * The whole file is then verified (length, gzip decodes to the end) and hashed.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { PermanentSourceError, type Source } from '../commoncrawl-source';
import { ObjectChangedError, openObject, TransientSourceError, type ObjectValidators } from './source-reader';
import type { RateGovernor } from './rate-governor';

export interface RetryPolicy {
  /** Transient failures tolerated inside one activity attempt before it gives up to Temporal. */
  maxTransientAttempts: number;
  /** Verification failures (bad gzip, wrong length) before the file is quarantined. */
  maxCorruptAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * Failed attempts of one file, over all activity attempts, before it is quarantined with the
   * last failure's kind (`http_503_after_N_attempts`, `timeout_after_N_attempts`). Absent in
   * inputs recorded before the bound existed: those retry as they did.
   */
  maxAttemptsPerFile?: number;
  /** A response silent for this long (no headers, no next chunk) is a `timeout` failure. */
  requestTimeoutMs?: number;
}

export interface DownloadFileInput {
  source: Source;
  key: string;
  partialPath: string;
  governor: RateGovernor;
  retry: RetryPolicy;
  s3?: S3Client;
  signal?: AbortSignal;
  /** Called as bytes land on disk (total bytes of the partial file so far). */
  onBytes?: (bytesOnDisk: number) => void;
  /** Retries already spent on this file by earlier activity attempts. */
  priorRetries?: number;
  /** Called after every retry with the file's total so far. */
  onRetry?: (retries: number) => void;
}

export type FileOutcome =
  | {
      status: 'ok';
      bytes: number;
      sha256: string;
      retries: number;
      fetchedBytes: number;
    }
  | {
      status: 'quarantined';
      reason: string;
      retries: number;
      fetchedBytes: number;
      /** The bytes that failed verification are left at partialPath, to be kept with the reason. */
      partialKept: boolean;
    };

/** Thrown when transient failures outlast this attempt; the activity retry resumes from disk. */
export class TransientExhaustedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientExhaustedError';
  }
}

const metaPath = (partialPath: string): string => `${partialPath}.meta.json`;

async function sizeOf(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

async function readMeta(partialPath: string): Promise<ObjectValidators | null> {
  try {
    return JSON.parse(await readFile(metaPath(partialPath), 'utf8')) as ObjectValidators;
  } catch {
    return null;
  }
}

export async function discardPartial(partialPath: string): Promise<void> {
  await rm(partialPath, { force: true });
  await rm(metaPath(partialPath), { force: true });
}

function sameObject(a: ObjectValidators, b: ObjectValidators): boolean {
  return a.length === b.length && a.etag === b.etag && a.lastModified === b.lastModified;
}

/** Full jitter: a uniform delay up to the exponential cap, unless the server said when. */
export function backoffMs(attempt: number, policy: RetryPolicy, retryAfterMs: number | null): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.max(retryAfterMs ?? 0, Math.random() * cap);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const WRITE_BATCH_BYTES = 256 * 1024;
/**
 * Decoder settings measured on loopback against `curl | sha256sum, gzip -t`: zlib's 16 KiB
 * default output chunks cost a threadpool round trip and a Buffer per 16 KiB of text, and its
 * 16 KiB input buffer made the download loop wait for the decoder on almost every network chunk.
 * Up to GUNZIP_BUFFER_BYTES wait in the decoder per file in flight.
 */
const GUNZIP_CHUNK_BYTES = 256 * 1024;
const GUNZIP_BUFFER_BYTES = 1024 * 1024;

/** sha256 and a gzip decode of bytes as they come, without keeping them. */
class StreamingVerifier {
  private readonly hash = createHash('sha256');
  private readonly gunzip = createGunzip({
    chunkSize: GUNZIP_CHUNK_BYTES,
    writableHighWaterMark: GUNZIP_BUFFER_BYTES,
  } as ZlibOptions);
  private gzipError: string | null = null;
  private readonly ended: Promise<void>;

  constructor() {
    this.gunzip.on('data', () => undefined);
    this.ended = new Promise((resolve) => {
      this.gunzip.once('end', resolve);
      this.gunzip.on('error', (error: Error) => {
        this.gzipError ??= error.message;
        resolve();
      });
    });
  }

  /** Waits while the decoder is behind, so a fast link cannot pile a whole file up in memory. */
  async update(chunk: Uint8Array): Promise<void> {
    this.hash.update(chunk);
    if (this.gzipError !== null || this.gunzip.write(chunk)) return;
    await Promise.race([new Promise((resolve) => this.gunzip.once('drain', resolve)), this.ended]);
  }

  async finish(): Promise<{ sha256: string; gzipError: string | null }> {
    this.gunzip.end();
    await this.ended;
    return { sha256: this.hash.digest('hex'), gzipError: this.gzipError };
  }

  /** For a body that broke off: the verdict would be meaningless. */
  abandon(): void {
    this.gunzip.destroy();
  }
}

/** sha256 of all the bytes, and whether they decode as gzip to the end. */
export async function verifyGzip(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<{ sha256: string; gzipError: string | null }> {
  const verifier = new StreamingVerifier();
  for await (const chunk of chunks) await verifier.update(chunk);
  return verifier.finish();
}

export function verifyGzipFile(file: string): Promise<{ sha256: string; gzipError: string | null }> {
  return verifyGzip(createReadStream(file, { highWaterMark: GUNZIP_BUFFER_BYTES }) as AsyncIterable<Buffer>);
}

export async function downloadFile(input: DownloadFileInput): Promise<FileOutcome> {
  const { partialPath, retry } = input;
  await mkdir(path.dirname(partialPath), { recursive: true });
  let transient = 0;
  let corrupt = 0;
  let fetchedBytes = 0;
  // Retries of this file, counting those of earlier activity attempts (from their heartbeats).
  let retries = input.priorRetries ?? 0;
  const retried = (): void => {
    retries += 1;
    input.onRetry?.(retries);
  };

  let streaming: StreamingVerifier | null = null;
  for (;;) {
    streaming?.abandon();
    streaming = null;
    const meta = await readMeta(partialPath);
    // The whole object's length, from the validators of the response that began this file.
    let expected = meta?.length ?? 0;
    let start = meta ? await sizeOf(partialPath) : 0;
    if (start === 0) await discardPartial(partialPath);
    if (meta && start > meta.length) {
      await discardPartial(partialPath);
      start = 0;
    }
    try {
      if (!meta || start < meta.length) {
        await input.governor.acquire();
        const response = await openObject(input.source, input.key, {
          start,
          ifRange: meta?.etag ?? meta?.lastModified ?? null,
          ...(retry.requestTimeoutMs ? { idleTimeoutMs: retry.requestTimeoutMs } : {}),
          ...(input.signal ? { signal: input.signal } : {}),
          ...(input.s3 ? { s3: input.s3 } : {}),
        });
        const changed = meta !== null && !sameObject(meta, response.validators);
        if (changed && response.start > 0) {
          // A range of a different object than the one we had begun: start over.
          response.cancel();
          await discardPartial(partialPath);
          transient += 1;
          retried();
          continue;
        }
        if (response.start !== start || changed) {
          // The server sent the whole object (it ignored the range, or the object changed).
          await discardPartial(partialPath);
          start = 0;
        }
        if (start === 0) await writeFile(metaPath(partialPath), JSON.stringify(response.validators));
        expected = response.validators.length;
        // Chunks are written in pieces of at most WRITE_BATCH_BYTES, each on disk before more is
        // read, so what a heartbeat reports is what a retry finds, even after SIGKILL.
        let onDisk = start;
        // A download from byte 0 is hashed and gunzipped as it arrives: no second read to verify.
        streaming = start === 0 ? new StreamingVerifier() : null;
        const file = await open(partialPath, start > 0 ? 'a' : 'w');
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        const flush = async (): Promise<void> => {
          if (pendingBytes === 0) return;
          const piece = pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending);
          pending = [];
          pendingBytes = 0;
          await file.write(piece);
          onDisk += piece.length;
          input.onBytes?.(onDisk);
        };
        try {
          for await (const chunk of response.body) {
            await streaming?.update(chunk);
            fetchedBytes += chunk.length;
            pending.push(chunk);
            pendingBytes += chunk.length;
            if (pendingBytes >= WRITE_BATCH_BYTES) await flush();
          }
          await flush();
        } catch (error) {
          await flush();
          if (input.signal?.aborted || error instanceof TransientSourceError) throw error;
          throw new TransientSourceError(
            `body of ${input.key} broke off at byte ${onDisk}: ${(error as Error).message}`,
            false,
          );
        } finally {
          await file.close();
        }
      }
      const size = await sizeOf(partialPath);
      if (size < expected)
        throw new TransientSourceError(`${input.key}: ${size} of ${expected} bytes arrived`, false);
      const verdict =
        size > expected
          ? { sha256: '', gzipError: `length ${size} exceeds ${expected}` }
          : streaming
            ? await streaming.finish()
            : await verifyGzipFile(partialPath);
      streaming = null;
      if (verdict.gzipError === null) {
        return {
          status: 'ok',
          bytes: size,
          sha256: verdict.sha256,
          retries,
          fetchedBytes,
        };
      }
      corrupt += 1;
      if (corrupt >= retry.maxCorruptAttempts) {
        return {
          status: 'quarantined',
          reason: `corrupt: ${verdict.gzipError}`,
          retries,
          fetchedBytes,
          partialKept: true,
        };
      }
      retried();
      await discardPartial(partialPath);
    } catch (error) {
      if (error instanceof PermanentSourceError) {
        await discardPartial(partialPath);
        return {
          status: 'quarantined',
          reason: `http_${error.status}: ${error.message}`,
          retries,
          fetchedBytes,
          partialKept: false,
        };
      }
      if (error instanceof ObjectChangedError) {
        await discardPartial(partialPath);
        transient += 1;
        retried();
        continue;
      }
      if (!(error instanceof TransientSourceError)) throw error;
      if (error.throttled) await input.governor.onThrottle();
      transient += 1;
      retried();
      // `retries` counts this file's failures across activity attempts (carried by heartbeats),
      // so a key that never recovers is set aside instead of stalling its crawl for ever.
      if (retry.maxAttemptsPerFile !== undefined && retries >= retry.maxAttemptsPerFile) {
        await discardPartial(partialPath);
        return {
          status: 'quarantined',
          reason: `${error.code}_after_${retries}_attempts: ${error.message}`,
          retries,
          fetchedBytes,
          partialKept: false,
        };
      }
      if (transient >= retry.maxTransientAttempts) {
        throw new TransientExhaustedError(
          `${input.key}: ${transient} transient failures, last: ${error.message}`,
        );
      }
      await sleep(backoffMs(transient, retry, error.retryAfterMs));
    }
  }
}
