/**
 * verifyMix on tiny Parquet outputs written by pyarrow (the venv's Python, not the Spark job): a
 * good output passes every check; each tampered one fails the check that names its fault.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildManifest, describeLocalFiles } from '../core/mix/manifest';
import { parseConfig } from '../config/schema';
import { planMixture } from '../core/mix/plan';
import {
  MIX_CHECKS,
  MixVerificationError,
  assertVerified,
  rowPieces,
  verifyMix,
  type SourceTarget,
} from '../core/mix/verify';
import { GPT2_EOT, freeGpt2, gpt2Encode } from '../core/tokenizer';
import { tempDir } from './helpers/services';

const REPO = path.resolve(__dirname, '..', '..');
const PYTHON = path.join(REPO, '.venv', 'bin', 'python');
const N_CTX = 32;

// Documents per source, packed into rows (each document + 50256, cut every N_CTX ids, the
// stream repeated for later epochs), interleaved by Webster keys; then the tampered variants.
const FIXTURE = String.raw`
import json, sys
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq
sys.path.insert(0, sys.argv[2])
from spark_jobs.tokenizer import gpt2_encoding, encode_document
root, n_ctx = Path(sys.argv[1]), int(sys.argv[3])
enc = gpt2_encoding()
words = "the of and a to in is was he for it with as his on be at by this had not are but".split()
targets = {"commonCrawl": 120, "webtext2": 60, "books1": 20}
rows = []
for s, (name, n_rows) in enumerate(targets.items()):
    docs = [f"{name} {i}: " + " ".join(words[(i * 7 + j * (s + 3)) % len(words)] for j in range(5 + i % 23)) for i in range(40)]
    docs.append("a literal <|endoftext|> stays text; café — 日本")
    folder = root / "docs" / name
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"doc_id": [f"{name}-{i}" for i in range(len(docs))], "text": docs}), folder / "part-0.parquet")
    stream = [t for d in docs for t in encode_document(enc, d)]
    per_epoch = len(stream) // n_ctx
    for k in range(n_rows):
        r = k % per_epoch
        rows.append(((2 * k + 1) / (2 * n_rows), s, name, k // per_epoch, stream[r * n_ctx:(r + 1) * n_ctx]))
rows.sort()
def write(variant, rows):
    out = root / variant / "data"
    out.mkdir(parents=True)
    table = pa.table({
        "input_ids": pa.array([r[4] for r in rows], pa.list_(pa.int32())),
        "source": [r[2] for r in rows],
        "epoch": pa.array([r[3] for r in rows], pa.int32()),
        "position": pa.array(range(len(rows)), pa.int64()),
    })
    pq.write_table(table.slice(0, 100), out / "train-00000-of-00002.parquet")
    pq.write_table(table.slice(100), out / "train-00001-of-00002.parquet")
write("good", rows)
write("short-row", [r if i != 57 else r[:4] + (r[4][:-1],) for i, r in enumerate(rows)])
write("high-id", [r if i != 130 else r[:4] + (r[4][:-1] + [50257],) for i, r in enumerate(rows)])
write("missing-source", [r for r in rows if r[2] != "books1"])
write("skewed-prefix", sorted(rows, key=lambda r: (r[1], r[0])))
print(json.dumps(targets))
`;

const dir = tempDir('mix-verify');
let targets: SourceTarget[] = [];
let documents: Record<string, string> = {};

before(() => {
  const run = spawnSync(PYTHON, ['-c', FIXTURE, dir, path.join(REPO, 'spark-jobs'), String(N_CTX)], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  const rows = JSON.parse(run.stdout) as Record<string, number>;
  const total = Object.values(rows).reduce((a, b) => a + b, 0);
  targets = Object.entries(rows).map(([source, n]) => ({ source, targetRows: n, weight: n / total }));
  documents = Object.fromEntries(Object.keys(rows).map((s) => [s, path.join(dir, 'docs', s)]));
});
after(() => {
  freeGpt2();
  rmSync(dir, { recursive: true, force: true });
});

const verify = (variant: string) =>
  verifyMix({ dir: path.join(dir, variant), nCtx: N_CTX, targets, documents, sampleRows: 24 });

void test('a good output passes every check', async () => {
  const report = await verifyMix({
    dir: path.join(dir, 'good'),
    nCtx: N_CTX,
    targets,
    documents,
    sampleRows: 200,
  });
  assert.deepEqual(
    report.checks.map((c) => [c.check, c.ok]),
    MIX_CHECKS.map((c) => [c, true]),
    JSON.stringify(report.checks, null, 2),
  );
  assert.equal(report.rows, 200);
  assert.equal(report.prefixRows, 20);
  assert.equal(report.sources.books1?.rows, 20);
  assert.doesNotThrow(() => assertVerified(report));
  assert.match(report.checks.at(-1)?.detail ?? '', /pieces of 200 rows found/);
});

for (const [variant, check] of [
  ['short-row', 'row-length'],
  ['high-id', 'id-range'],
  ['missing-source', 'rows-per-source'],
  ['skewed-prefix', 'prefix-weights'],
] as const) {
  void test(`${variant} fails the ${check} check, non-retryably named`, async () => {
    const report = await verify(variant);
    const failed = report.checks.filter((c) => !c.ok).map((c) => c.check);
    assert.ok(failed.includes(check), `${variant}: failed ${failed.join(', ')}`);
    if (variant === 'skewed-prefix') assert.deepEqual(failed, ['prefix-weights']);
    if (variant === 'short-row') assert.deepEqual(failed, ['row-length']);
    assert.throws(
      () => assertVerified(report),
      (e: unknown) =>
        e instanceof MixVerificationError && e.name === 'MixVerificationError' && e.check === check,
    );
  });
}

void test('rowPieces splits at 50256 and keeps a literal <|endoftext|> as text', () => {
  const literal = 'x <|endoftext|> y';
  const ids = [
    ...gpt2Encode('tail of one'),
    GPT2_EOT,
    ...gpt2Encode(literal),
    GPT2_EOT,
    ...gpt2Encode('head'),
  ];
  assert.deepEqual(rowPieces(ids), [
    { kind: 'suffix', text: 'tail of one' },
    { kind: 'whole', text: literal },
    { kind: 'prefix', text: 'head' },
  ]);
  assert.deepEqual(rowPieces(gpt2Encode('inside')), [{ kind: 'inner', text: 'inside' }]);
});

void test('the manifest carries plan, achieved figures, files with sha256 and the checks', async () => {
  const report = await verify('good');
  const { mixture } = parseConfig({ mixture: { totalTokens: 200 * N_CTX } });
  const plan = planMixture(
    {
      ...mixture,
      nCtx: N_CTX,
      weights: { commonCrawl: 0.6, webtext2: 0.3, books1: 0.1, books2: 0, wikipedia: 0 },
    },
    { commonCrawl: { rowsPerEpoch: 40 }, webtext2: { rowsPerEpoch: 40 }, books1: { rowsPerEpoch: 40 } },
  );
  const files = await describeLocalFiles(path.join(dir, 'good'), [
    'data/train-00001-of-00002.parquet',
    'data/train-00000-of-00002.parquet',
  ]);
  const manifest = buildManifest({
    config: { mixture },
    configFingerprint: 'cfg',
    stageFingerprints: { dedup: 'd', mix: 'm' },
    plan,
    verification: report,
    files,
  });
  assert.equal(manifest.files[0]?.path, 'data/train-00000-of-00002.parquet');
  assert.match(manifest.files[0]?.sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.equal(
    manifest.files[0]?.bytes,
    readFileSync(path.join(dir, 'good', manifest.files[0]?.path ?? '')).length,
  );
  const wt = manifest.sources.find((s) => s.source === 'webtext2');
  assert.equal(wt?.rows, 60);
  assert.equal(wt?.tokens, 60 * N_CTX);
  assert.equal(wt?.epochs, 1.5);
  assert.equal(wt?.paper.epochs, 2.9);
  assert.ok(Math.abs((wt?.paperEpochsFromItsOwnTable ?? 0) - 3.4737) < 1e-3);
  assert.equal(manifest.verification.ok, true);
});
