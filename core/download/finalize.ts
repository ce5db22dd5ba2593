/** Merges a crawl's committed batch parts into raw/<crawl>/inventory-<listId>.parquet, checking none is missing. */
import { openStorage } from '../storage';
import {
  inventoryPartPath,
  inventoryPath,
  readInventory,
  writeInventory,
  type InventoryRecord,
} from './inventory';
import { totalsOf, type DownloadTotals } from './batch';

export interface FinalizeInput {
  crawl: string;
  storageRoot: string;
  listId: string;
  batches: number;
  /** How many keys discover chose; the inventory must account for every one. */
  expectedFiles: number;
}

export interface FinalizeResult extends Omit<DownloadTotals, 'fetchedBytes'> {
  inventory: string;
  quarantinedReasons: Record<string, number>;
}

export async function finalizeCrawlInventory(input: FinalizeInput): Promise<FinalizeResult> {
  const storage = openStorage(input.storageRoot);
  const records: InventoryRecord[] = [];
  for (let batch = 0; batch < input.batches; batch++) {
    const part = inventoryPartPath(input.crawl, input.listId, batch);
    if (!(await storage.exists(part))) throw new Error(`inventory part missing: ${storage.uri(part)}`);
    records.push(...(await readInventory(storage, part)));
  }
  if (records.length !== input.expectedFiles) {
    throw new Error(
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
