/** A Spark stage's input signature follows what its input contains, not how it was obtained. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeInventory, type InventoryRecord } from '../core/download/inventory';
import { inputSignatures } from '../core/spark/signature';
import { LocalStorage } from '../core/storage';
import { tempDir } from './helpers/services';

const row = (over: Partial<InventoryRecord> = {}): InventoryRecord => ({
  key: 'crawl-data/CC-MAIN-2019-09/segments/1/wet/a.warc.wet.gz',
  rawPath: 'raw/CC-MAIN-2019-09/segments/1/wet/a.warc.wet.gz',
  bytes: 1234,
  sha256: 'ab'.repeat(32),
  status: 'ok',
  reason: null,
  retries: 0,
  ...over,
});

test('an inventory is signed by its files, not by the retries it took to fetch them', async () => {
  const storage = new LocalStorage(tempDir('signature'));
  const signed = async (records: InventoryRecord[]): Promise<string> => {
    const inventory = 'raw/CC-MAIN-2019-09/inventory-0123456789abcdef.parquet';
    await writeInventory(storage, inventory, records);
    const [signature] = await inputSignatures(storage, [
      { flag: '--input', paths: [inventory], base: 'storage' },
    ]);
    return signature ?? '';
  };
  const calm = await signed([row()]);
  // After a 503 storm the same file took 9 retries: extraction's fingerprint must not move.
  assert.equal(await signed([row({ retries: 9 })]), calm);
  // Other bytes, or the file quarantined instead, are other content.
  assert.notEqual(await signed([row({ sha256: 'cd'.repeat(32) })]), calm);
  assert.notEqual(await signed([row({ status: 'quarantined', reason: 'truncated_gzip' })]), calm);
});
