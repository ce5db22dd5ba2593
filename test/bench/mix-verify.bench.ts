/**
 * Benchmark (not a test): the mixture's verification (core/mix/verify.ts) against DuckDB reading
 * every id of the same files once, in the same run, for infra/SIZING.md.
 *
 *   node dist/test/bench/mix-verify.bench.js [--files 4] [--rows-per-file 10000] [--rounds 3] [--s3]
 *
 * The files are written as the mix job writes them (pyarrow, zstd, one row group per flush) from
 * the real books in shared/data, tokenized with GPT-2 BPE, as one source packed into 2048-id rows
 * (the books repeat when more rows are asked than they fill, so the files compress better than
 * real ones; verification's cost is per id, not per stored byte). Each round times the whole
 * verification (every check, the sha256 of every file, a decode of 16 rows against the books as
 * documents), once reading one data file at a time and once `FILES_AT_ONCE`; and, beside them,
 * `SELECT sum(len(input_ids)), max(list_max(input_ids))` over the same local files: the least a
 * reader of every id must do. Prints ids per second and the ratios, per round and the medians.
 * With --s3 the storage root is a bucket of the S3 emulator on loopback (every file a download;
 * the emulator shares the machine's cores, unlike S3).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { verifyMixOutput } from '../../core/mix/finish';
import { FILES_AT_ONCE } from '../../core/mix/verify';
import { LocalStorage, S3Storage, s3Client } from '../../core/storage';
import { s3Endpoint } from '../../infra/services';
import { planMixture } from '../../core/mix/plan';
import { JOBS_DIR } from '../../core/spark/code';
import { sharedDataDir, venvBin } from '../../core/paths';
import { parseConfig } from '../../config/schema';
import { startTestServices, tempDir, type TestServices } from '../helpers/services';
import { median } from './median';

const N_CTX = 2048;

// Documents: book passages of ~4,000 characters; rows: their ids + 50256, packed and cut, the
// stream repeated until the rows are filled.
const WRITER = String.raw`
import sys
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq
sys.path.insert(0, sys.argv[2])
from spark_jobs.tokenizer import gpt2_encoding, encode_document
root, books, files, per_file, n_ctx = Path(sys.argv[1]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
enc = gpt2_encoding()
text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(books.glob("*.txt")))
docs = [text[i:i + 4000] for i in range(0, len(text), 4000)]
(root / "docs").mkdir(parents=True)
pq.write_table(pa.table({"doc_id": [f"book-{i}" for i in range(len(docs))], "text": docs}), root / "docs" / "part-0.parquet")
stream = [t for d in docs for t in encode_document(enc, d)]
per_epoch = len(stream) // n_ctx
(root / "out" / "data").mkdir(parents=True)
for f in range(files):
    rows = [stream[(k % per_epoch) * n_ctx:(k % per_epoch + 1) * n_ctx] for k in range(f * per_file, (f + 1) * per_file)]
    table = pa.table({
        "input_ids": pa.array(rows, pa.list_(pa.int32())),
        "source": ["books1"] * per_file,
        "epoch": pa.array([k // per_epoch for k in range(f * per_file, (f + 1) * per_file)], pa.int32()),
        "position": pa.array(range(f * per_file, (f + 1) * per_file), pa.int64()),
    })
    with pq.ParquetWriter(root / "out" / "data" / f"train-{f:05d}-of-{files:05d}.parquet", table.schema, compression="zstd",
                          use_dictionary=["source"], write_statistics=["source", "epoch", "position"]) as writer:
        for start in range(0, per_file, 1000):
            writer.write_table(table.slice(start, 1000), row_group_size=1000)
print(per_epoch)
`;

const seconds = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e9;

async function bareRead(files: string): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    const started = process.hrtime.bigint();
    await db.runAndReadAll(
      `SELECT sum(len(input_ids)), max(list_max(input_ids)) FROM read_parquet('${files}')`,
    );
    return seconds(started);
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      files: { type: 'string', default: '4' },
      'rows-per-file': { type: 'string', default: '10000' },
      rounds: { type: 'string', default: '3' },
      s3: { type: 'boolean', default: false },
    },
  });
  const [files, perFile, rounds] = [values.files, values['rows-per-file'], values.rounds].map(Number) as [
    number,
    number,
    number,
  ];
  const root = tempDir('verify-bench');
  const books = path.join(sharedDataDir(), 'books');
  const written = spawnSync(
    venvBin('python'),
    ['-c', WRITER, root, JOBS_DIR, books, String(files), String(perFile), String(N_CTX)],
    { encoding: 'utf8' },
  );
  if (written.status !== 0) throw new Error(written.stderr);
  const rows = files * perFile;
  const { mixture } = parseConfig({ mixture: { totalTokens: rows * N_CTX } });
  const plan = planMixture(
    {
      ...mixture,
      weights: { commonCrawl: 0, webtext2: 0, books1: 1, books2: 0, wikipedia: 0 },
      maxEpochs: 1e6,
    },
    { books1: { rowsPerEpoch: Number(written.stdout.trim()) } },
  );
  const ids = rows * N_CTX;
  let services: TestServices | undefined;
  let storageRoot = root;
  if (values.s3) {
    process.env.AWS_ACCESS_KEY_ID ??= 'testing';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
    services = await startTestServices(['s3']);
    process.env.AWS_ENDPOINT_URL_S3 = s3Endpoint(services.settings);
    const client = s3Client();
    await client.send(new CreateBucketCommand({ Bucket: 'ccmix-verify-bench' }));
    storageRoot = 's3://ccmix-verify-bench/root';
    const local = new LocalStorage(root);
    const s3 = new S3Storage(storageRoot, client);
    for (const file of await local.list('')) await s3.write(file, await local.read(file));
    client.destroy();
  }
  const verify = async (filesAtOnce: number) => {
    const started = process.hrtime.bigint();
    const report = await verifyMixOutput({
      storageRoot,
      output: 'out',
      plan,
      documents: { books1: 'docs' },
      sampleRows: 16,
      filesAtOnce,
    });
    const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail}`);
    if (failed.length > 0) throw new Error(`verification failed: ${failed.join('; ')}`);
    return seconds(started);
  };
  const results = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const bare = await bareRead(path.join(root, 'out', 'data', '*.parquet'));
      const one = await verify(1);
      const many = await verify(FILES_AT_ONCE);
      results.push({
        bareSeconds: bare,
        oneAtATimeSeconds: one,
        filesAtOnceSeconds: many,
        verifyMIdsPerSecond: ids / many / 1e6,
        ratioToBareRead: bare / many,
        ratioFilesAtOnceToOne: one / many,
      });
    }
  } finally {
    await services?.stop();
  }
  console.log(
    JSON.stringify(
      {
        storage: values.s3 ? 'S3 emulator' : 'local',
        filesAtOnce: FILES_AT_ONCE,
        files,
        rows,
        ids,
        rounds: results.map((r) =>
          Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v.toFixed(3))])),
        ),
        medianVerifyMIdsPerSecond: Number(median(results.map((r) => r.verifyMIdsPerSecond)).toFixed(2)),
        medianRatioToBareRead: Number(median(results.map((r) => r.ratioToBareRead)).toFixed(3)),
        medianRatioFilesAtOnceToOne: Number(median(results.map((r) => r.ratioFilesAtOnceToOne)).toFixed(3)),
      },
      null,
      1,
    ),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
