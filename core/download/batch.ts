/**
 * Downloads one batch of a crawl's chosen WET files and commits the batch's inventory part.
 * Files already published are not fetched again; a retried batch resumes each file from disk.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { sourceS3Client, type Source } from '../commoncrawl-source';
import { openStorage, type Storage } from '../storage';
import { mapSettlingOnFailure } from '../concurrency';
import { discardPartial, downloadFile, verifyGzip, type RetryPolicy } from './download-file';
import {
  inventoryPartPath,
  quarantinePathFor,
  rawPathFor,
  readInventoryIfPresent,
  writeInventory,
  type InventoryRecord,
} from './inventory';
import { governorFor } from './rate-governor';

export interface DownloadBatchInput {
  crawl: string;
  source: Source;
  storageRoot: string;
  /** Storage-relative path of the crawl's chosen keys (written by discover). */
  keysPath: string;
  /** Identifies that key list, so inventory parts of another selection never mix in. */
  listId: string;
  batch: number;
  batchSize: number;
  parallelFiles: number;
  maxRequestsPerSecond: number;
  retry: RetryPolicy;
}

export interface DownloadTotals {
  files: number;
  ok: number;
  quarantined: number;
  bytes: number;
  /** Bytes received from the source, including any received twice. */
  fetchedBytes: number;
  retries: number;
}

export interface DownloadBatchResult extends DownloadTotals {
  batch: number;
  inventoryPart: string;
  alreadyCommitted: boolean;
  /** The run's request rate after this batch (requests/s), for progress. */
  rate: number;
}

export interface BatchHeartbeat {
  batch: number;
  completed: InventoryRecord[];
  /** Bytes on disk per file in flight. */
  inFlight: Record<string, number>;
  /** Retries so far per file in flight, so a later attempt reports the file's true total. */
  inFlightRetries: Record<string, number>;
  fetchedBytes: number;
  rate: number;
}

/**
 * How often a batch heartbeats while nothing arrives (files backing off, waiting for the rate
 * governor): well inside the smallest heartbeat timeout the config allows.
 */
export const IDLE_HEARTBEAT_MS = 5_000;

export interface BatchHooks {
  heartbeat?: (details: BatchHeartbeat) => void;
  resumeFrom?: BatchHeartbeat;
  signal?: AbortSignal;
  /** Heartbeat interval while nothing else beats (default IDLE_HEARTBEAT_MS). */
  idleHeartbeatMs?: number;
}

export function totalsOf(records: readonly InventoryRecord[]): Omit<DownloadTotals, 'fetchedBytes'> {
  return {
    files: records.length,
    ok: records.filter((r) => r.status === 'ok').length,
    quarantined: records.filter((r) => r.status === 'quarantined').length,
    bytes: records.reduce((n, r) => n + r.bytes, 0),
    retries: records.reduce((n, r) => n + r.retries, 0),
  };
}

/**
 * Parsed key lists of the crawls this worker is downloading. A crawl of 72,000 files has 4,500
 * batches; reading and splitting its 7 MB list for each one made the crawl's listing work grow
 * with the square of its file count. A list is named by its selection (listId), so a cached copy
 * never goes stale; a few crawls download at once, so a few lists are enough.
 */
const keyLists = new Map<string, Promise<string[]>>();
const KEY_LISTS_KEPT = 8;

async function keyList(storage: Storage, keysPath: string, listId: string): Promise<string[]> {
  const id = `${storage.uri(keysPath)}\n${listId}`;
  let keys = keyLists.get(id);
  if (keys) {
    keyLists.delete(id); // re-inserted below: the Map's order is the order of last use
  } else {
    const loading = storage.read(keysPath).then((data) => data.toString('utf8').split('\n').filter(Boolean));
    // A failed read is not kept: the activity's retry reads again.
    loading.catch(() => keyLists.get(id) === loading && keyLists.delete(id));
    keys = loading;
  }
  keyLists.set(id, keys);
  for (const oldest of keyLists.keys()) {
    if (keyLists.size <= KEY_LISTS_KEPT) break;
    keyLists.delete(oldest);
  }
  return keys;
}

export async function batchKeys(
  storage: Storage,
  input: Pick<DownloadBatchInput, 'keysPath' | 'listId' | 'batch' | 'batchSize'>,
): Promise<string[]> {
  const keys = await keyList(storage, input.keysPath, input.listId);
  return keys.slice(input.batch * input.batchSize, (input.batch + 1) * input.batchSize);
}

/**
 * A file published by an attempt that died before reporting it: describe it from storage, or null
 * when its bytes no longer verify (they are removed, and the file is downloaded again).
 */
async function recordPublished(
  storage: Storage,
  key: string,
  rawPath: string,
): Promise<InventoryRecord | null> {
  // Streamed, never held whole: a batch's lanes may each be re-recording a WET file (~160 MB).
  let bytes = 0;
  async function* counted(): AsyncIterable<Uint8Array> {
    for await (const chunk of storage.readStream(rawPath)) {
      bytes += chunk.length;
      yield chunk;
    }
  }
  // Handed over as the download's own chunks are: the verifier copies any that share memory.
  const { sha256, gzipError } = await verifyGzip(counted(), true);
  if (gzipError !== null) {
    await storage.remove(rawPath);
    return null;
  }
  return { key, rawPath, bytes, sha256, status: 'ok', reason: null, retries: 0 };
}

export async function downloadBatch(
  input: DownloadBatchInput,
  hooks: BatchHooks = {},
): Promise<DownloadBatchResult> {
  const storage = openStorage(input.storageRoot);
  const governor = governorFor(input.storageRoot, input.maxRequestsPerSecond, storage);
  const part = inventoryPartPath(input.crawl, input.listId, input.batchSize, input.batch);
  const committed = await readInventoryIfPresent(storage, part);
  if (committed) {
    return {
      ...totalsOf(committed),
      fetchedBytes: 0,
      batch: input.batch,
      inventoryPart: part,
      alreadyCommitted: true,
      rate: governor.currentRate,
    };
  }

  const keys = await batchKeys(storage, input);
  const resumed = hooks.resumeFrom?.batch === input.batch ? hooks.resumeFrom : undefined;
  const completed = new Map((resumed?.completed ?? []).map((r) => [r.key, r]));
  const inFlight: Record<string, number> = {};
  const inFlightRetries: Record<string, number> = { ...(resumed?.inFlightRetries ?? {}) };
  let fetchedBytes = resumed?.fetchedBytes ?? 0;
  let lastBeat = 0;
  const beat = (force = false): void => {
    const now = Date.now();
    if (!hooks.heartbeat || (!force && now - lastBeat < 250)) return;
    lastBeat = now;
    hooks.heartbeat({
      batch: input.batch,
      completed: [...completed.values()],
      inFlight: { ...inFlight },
      inFlightRetries: { ...inFlightRetries },
      fetchedBytes,
      rate: governor.currentRate,
    });
  };
  const s3 = sourceS3Client(input.source);
  // Cancelled with the activity, or by the batch itself when one file fails: the other files
  // stop, and the attempt ends only once they have (see mapSettlingOnFailure).
  const lanes = new AbortController();
  const stop = (): void => lanes.abort(hooks.signal?.reason);
  if (hooks.signal?.aborted) stop();
  hooks.signal?.addEventListener('abort', stop, { once: true });
  const ticker = setInterval(() => beat(true), hooks.idleHeartbeatMs ?? IDLE_HEARTBEAT_MS);

  try {
    await mapSettlingOnFailure(
      keys.filter((key) => !completed.has(key)),
      input.parallelFiles,
      async (key) => {
        const rawPath = rawPathFor(input.crawl, key);
        const partialPath = path.join(storage.stagingDir(), 'download', rawPath);
        const published = (await storage.exists(rawPath))
          ? await recordPublished(storage, key, rawPath)
          : null;
        if (published) {
          await discardPartial(partialPath);
          completed.set(key, published);
          beat(true);
          return;
        }
        const outcome = await downloadFile({
          source: input.source,
          key,
          partialPath,
          governor,
          retry: input.retry,
          ...(s3 ? { s3 } : {}),
          signal: lanes.signal,
          onBytes: (bytesOnDisk) => {
            inFlight[key] = bytesOnDisk;
            beat();
          },
          priorRetries: inFlightRetries[key] ?? 0,
          onRetry: (retries) => {
            inFlightRetries[key] = retries;
            beat(true);
          },
        });
        delete inFlightRetries[key];
        fetchedBytes += outcome.fetchedBytes;
        delete inFlight[key];
        if (outcome.status === 'ok') {
          await storage.publishFile(partialPath, rawPath);
          await discardPartial(partialPath);
          completed.set(key, {
            key,
            rawPath,
            bytes: outcome.bytes,
            sha256: outcome.sha256,
            status: 'ok',
            reason: null,
            retries: outcome.retries,
          });
        } else {
          // Bytes that failed verification are kept beside the crawl, never among its files.
          const keptPath = outcome.partialKept ? quarantinePathFor(input.crawl, key) : null;
          const bytes = keptPath ? (await stat(partialPath)).size : 0;
          if (keptPath) await storage.publishFile(partialPath, keptPath);
          await discardPartial(partialPath);
          completed.set(key, {
            key,
            rawPath: keptPath,
            bytes,
            sha256: null,
            status: 'quarantined',
            reason: outcome.reason,
            retries: outcome.retries,
          });
        }
        beat(true);
      },
      () => lanes.abort(),
    );
  } finally {
    clearInterval(ticker);
    hooks.signal?.removeEventListener('abort', stop);
    s3?.destroy();
  }

  const records = keys.map((key) => completed.get(key)).filter((r): r is InventoryRecord => r !== undefined);
  await writeInventory(storage, part, records);
  return {
    ...totalsOf(records),
    fetchedBytes,
    batch: input.batch,
    inventoryPart: part,
    alreadyCommitted: false,
    rate: governor.currentRate,
  };
}
