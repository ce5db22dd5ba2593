/**
 * The download inventory: one row per WET file (key, bytes, sha256, or why it was quarantined),
 * written as Parquet. Each batch commits a part; finalizing merges them into the crawl's
 * `raw/<crawl>/inventory-<listId>.parquet`, named by the selection (discover's fingerprint of
 * source, crawl, selection and seed), so runs with other selections on the same storage root
 * keep their own.
 */
import { UnsafePathError, type Storage } from '../storage';

export interface InventoryRecord {
  key: string;
  /** Storage-relative path of the published file, or of the kept bytes of a quarantined one (else null). */
  rawPath: string | null;
  bytes: number;
  sha256: string | null;
  status: 'ok' | 'quarantined';
  reason: string | null;
  retries: number;
}

// hyparquet is published as ES modules only; CommonJS code reaches it through import().
const writer = () => import('hyparquet-writer');
const reader = () => import('hyparquet');

export function crawlRawDir(crawl: string): string {
  return `raw/${crawl}`;
}

/** Where a WET key is published: raw/<crawl>/ plus the key's path below the crawl. */
export function rawPathFor(crawl: string, key: string): string {
  const prefix = `crawl-data/${crawl}/`;
  if (!key.startsWith(prefix)) throw new UnsafePathError(`${key} is not under ${prefix}`);
  return `${crawlRawDir(crawl)}/${key.slice(prefix.length)}`;
}

/** Where the bytes of a file that failed verification are kept, outside the crawl's files. */
export function quarantinePathFor(crawl: string, key: string): string {
  return rawPathFor(crawl, key).replace(`${crawlRawDir(crawl)}/`, `${crawlRawDir(crawl)}/_quarantine/`);
}

/**
 * A batch's committed part. The batch size is in the path: a run that cuts the same selection into
 * batches of another size must not take another size's part for its own batch of that number.
 */
export function inventoryPartPath(crawl: string, listId: string, batchSize: number, batch: number): string {
  const folder = `${crawlRawDir(crawl)}/_inventory/${listId}/${batchSize}-per-part`;
  return `${folder}/part-${String(batch).padStart(6, '0')}.parquet`;
}

export function inventoryPath(crawl: string, listId: string): string {
  if (!/^[0-9a-z]+$/i.test(listId)) throw new UnsafePathError(`selection id ${JSON.stringify(listId)}`);
  return `${crawlRawDir(crawl)}/inventory-${listId}.parquet`;
}

/** Where runs from before the selection named the inventory wrote it (read by their reports). */
export function legacyInventoryPath(crawl: string): string {
  return `${crawlRawDir(crawl)}/inventory.parquet`;
}

export async function encodeInventory(records: readonly InventoryRecord[]): Promise<Uint8Array> {
  const sorted = [...records].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const { parquetWriteBuffer } = await writer();
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'key', data: sorted.map((r) => r.key), type: 'STRING', nullable: false },
      { name: 'raw_path', data: sorted.map((r) => r.rawPath), type: 'STRING' },
      { name: 'bytes', data: sorted.map((r) => BigInt(r.bytes)), type: 'INT64', nullable: false },
      { name: 'sha256', data: sorted.map((r) => r.sha256), type: 'STRING' },
      { name: 'status', data: sorted.map((r) => r.status), type: 'STRING', nullable: false },
      { name: 'reason', data: sorted.map((r) => r.reason), type: 'STRING' },
      { name: 'retries', data: sorted.map((r) => r.retries), type: 'INT32', nullable: false },
    ],
    createdBy: 'ccmix',
  });
  return new Uint8Array(buffer);
}

export async function decodeInventory(data: Uint8Array): Promise<InventoryRecord[]> {
  const { parquetReadObjects } = await reader();
  const file = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  const rows = (await parquetReadObjects({ file })) as Record<string, unknown>[];
  return rows.map((row) => ({
    key: String(row.key),
    rawPath: (row.raw_path as string | null) ?? null,
    bytes: Number(row.bytes),
    sha256: (row.sha256 as string | null) ?? null,
    status: row.status === 'ok' ? 'ok' : 'quarantined',
    reason: (row.reason as string | null) ?? null,
    retries: Number(row.retries),
  }));
}

export async function readInventory(storage: Storage, relPath: string): Promise<InventoryRecord[]> {
  return decodeInventory(await storage.read(relPath));
}

/** `readInventory`, or null when there is none: one request where `exists` then a read take two. */
export async function readInventoryIfPresent(
  storage: Storage,
  relPath: string,
): Promise<InventoryRecord[] | null> {
  const data = await storage.readIfPresent(relPath);
  return data ? decodeInventory(data) : null;
}

export async function writeInventory(
  storage: Storage,
  relPath: string,
  records: readonly InventoryRecord[],
): Promise<void> {
  await storage.write(relPath, await encodeInventory(records));
}
