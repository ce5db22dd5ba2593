/** Merges a crawl's committed batch parts into raw/<crawl>/inventory-<listId>.parquet, checking none is missing. */
import { mapWithConcurrency } from '../concurrency';
import { openStorage } from '../storage';
import {
  inventoryPartPath,
  inventoryPath,
  readInventoryIfPresent,
  writeInventory,
  type InventoryRecord,
} from './inventory';
import { totalsOf, type DownloadTotals } from './batch';

export interface FinalizeInput {
  crawl: string;
  storageRoot: string;
  listId: string;
  /** Files per batch: the parts' folder (see inventoryPartPath). */
  batchSize: number;
  batches: number;
  /** How many keys discover chose; the inventory must account for every one. */
  expectedFiles: number;
}

export interface FinalizeResult extends Omit<DownloadTotals, 'fetchedBytes'> {
  inventory: string;
  quarantinedReasons: Record<string, number>;
}

/**
 * The committed parts do not add up to the selection: every batch committed its part before
 * finalize runs, so a retry would read the same parts and fail the same way.
 */
export class InventoryIncompleteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InventoryIncompleteError';
  }
}

/** Parts read at once: a crawl of 72,000 files has 4,500, each a small object on S3. */
const PARTS_IN_FLIGHT = 16;

/**
 * `heartbeat` is called with the parts read so far: at paper scale the merge takes longer than
 * the download activities' heartbeat timeout, and an activity that stops beating is retried.
 */
export async function finalizeCrawlInventory(
  input: FinalizeInput,
  heartbeat: (partsRead: number) => void = () => {},
): Promise<FinalizeResult> {
  const storage = openStorage(input.storageRoot);
  let partsRead = 0;
  const parts = await mapWithConcurrency(
    Array.from({ length: input.batches }, (_, batch) =>
      inventoryPartPath(input.crawl, input.listId, input.batchSize, batch),
    ),
    PARTS_IN_FLIGHT,
    async (part) => {
      const records = await readInventoryIfPresent(storage, part);
      if (!records) throw new InventoryIncompleteError(`inventory part missing: ${storage.uri(part)}`);
      heartbeat(++partsRead);
      return records;
    },
  );
  const records: InventoryRecord[] = parts.flat();
  if (records.length !== input.expectedFiles) {
    throw new InventoryIncompleteError(
      `${input.crawl}: inventory has ${records.length} files, discover chose ${input.expectedFiles}`,
    );
  }
  const inventory = inventoryPath(input.crawl, input.listId);
  await writeInventory(storage, inventory, records);
  const quarantinedReasons: Record<string, number> = {};
  for (const r of records) {
    if (r.status !== 'quarantined') continue;
    const reason = (r.reason ?? 'unknown').split(':')[0] ?? 'unknown';
    quarantinedReasons[reason] = (quarantinedReasons[reason] ?? 0) + 1;
  }
  return { ...totalsOf(records), inventory, quarantinedReasons };
}
