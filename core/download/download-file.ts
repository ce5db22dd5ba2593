/**
 * Downloads one object into a partial file that survives restarts: a retry continues with a
 * Range request from what is on disk, unless the object changed or the server ignores ranges.
 * The whole file is then verified (length, gzip decodes to the end) and hashed.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { PermanentSourceError, type Source } from '../commoncrawl-source';
import { ObjectChangedError, openObject, TransientSourceError, type ObjectValidators } from './source-reader';
import type { RateGovernor } from './rate-governor';
import { PooledVerifier, type Verdict } from './verify-pool';

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

/**
 * Full jitter: a uniform delay up to the exponential cap, unless the server said when. The
 * server's wait is honoured up to `maxDelayMs`: a `Retry-After` of a day would otherwise hold the
 * file, and its batch, for a day.
 */
export function backoffMs(attempt: number, policy: RetryPolicy, retryAfterMs: number | null): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.max(Math.min(retryAfterMs ?? 0, policy.maxDelayMs), Math.random() * cap);
}

const WRITE_BATCH_BYTES = 256 * 1024;
/** Read size when a resumed or published file is verified from disk. */
const VERIFY_READ_BYTES = 1024 * 1024;

/**
 * sha256 of all the bytes, and whether they decode as gzip to the end (in a worker thread).
 * `transfer`: the chunks are not reused by their source (a read stream's are not), so they are
 * handed to the worker thread instead of copied.
 */
export async function verifyGzip(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  transfer = false,
): Promise<Verdict> {
  const verifier = new PooledVerifier();
  try {
    for await (const chunk of chunks) await verifier.update(chunk, transfer);
  } catch (error) {
    verifier.abandon();
    throw error;
  }
  return verifier.finish();
}

export function verifyGzipFile(file: string): Promise<Verdict> {
  return verifyGzip(
    createReadStream(file, { highWaterMark: VERIFY_READ_BYTES }) as AsyncIterable<Buffer>,
    true,
  );
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

  let streaming: PooledVerifier | null = null;
  // A verifier left running (a give-up, an error) would keep its worker thread busy for ever.
  try {
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
          await input.governor.acquire(input.signal);
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
          // A download from byte 0 is hashed and gunzipped as it arrives, in a worker thread: no
          // second read to verify.
          streaming = start === 0 ? new PooledVerifier() : null;
          const file = await open(partialPath, start > 0 ? 'a' : 'w');
          let pending: Uint8Array[] = [];
          let pendingBytes = 0;
          // Each piece is a copy of its chunks in memory of its own: once on disk, it is handed
          // to the verifier's thread without another copy.
          const flush = async (verify: boolean): Promise<void> => {
            if (pendingBytes === 0) return;
            const piece = Buffer.allocUnsafeSlow(pendingBytes);
            let at = 0;
            for (const chunk of pending) {
              piece.set(chunk, at);
              at += chunk.length;
            }
            pending = [];
            pendingBytes = 0;
            await file.write(piece);
            onDisk += piece.length;
            input.onBytes?.(onDisk);
            if (verify) await streaming?.update(piece, true);
          };
          try {
            for await (const chunk of response.body) {
              fetchedBytes += chunk.length;
              pending.push(chunk);
              pendingBytes += chunk.length;
              if (pendingBytes >= WRITE_BATCH_BYTES) await flush(true);
            }
            await flush(true);
          } catch (error) {
            // What arrived is kept for a resume; a body that broke off is not worth verifying.
            await flush(false);
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
        // Cut short when the batch stops (cancelled, or another of its files failed).
        await delay(backoffMs(transient, retry, error.retryAfterMs), undefined, { signal: input.signal });
      }
    }
  } finally {
    streaming?.abandon();
  }
}
