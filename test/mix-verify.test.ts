/**
 * The mixture's verification and manifest on tiny Parquet outputs written by pyarrow (the venv's
 * Python, not the Spark job), with the storage root a local folder and the same files in the S3
 * emulator: a good output passes every check, each tampered one fails the check that names its
 * fault, and manifest.json carries the sha256 of every file's bytes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { parseConfig } from '../config/schema';
import {
  MANIFEST_FILE,
  VERIFIED_FILES,
  VERIFY_PROGRESS,
  verifyMixOutput,
  writeMixManifest,
} from '../core/mix/finish';
import { buildManifest, describeLocalFiles, type Manifest } from '../core/mix/manifest';
import { planMixture, samplePositions, type MixPlan } from '../core/mix/plan';
import { MIX_CHECKS, MixVerificationError, assertVerified, rowPieces } from '../core/mix/verify';
import { LocalStorage, S3Storage, openStorage, s3Client } from '../core/storage';
import { GPT2_EOT, freeGpt2, gpt2Encode } from '../core/tokenizer';
import { s3Endpoint } from '../infra/services';
import { startTestServices, tempDir, type TestServices } from './helpers/services';

const REPO = path.resolve(__dirname, '..', '..');
const PYTHON = path.join(REPO, '.venv', 'bin', 'python');
const N_CTX = 32;
const BUCKET = 'ccmix-mix-verify';

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
    ids = [f"{name}-{i}" for i in range(len(docs))]
    pq.write_table(pa.table({"doc_id": ids, "text": docs}), folder / "part-0.parquet")
    split = root / "docs-split" / name  # the same documents in four files, for provenance.json
    split.mkdir(parents=True)
    part_of = [j * 4 // len(docs) for j in range(len(docs))]
    for part in range(4):
        mine = [j for j in range(len(docs)) if part_of[j] == part]
        table = pa.table({"doc_id": [ids[j] for j in mine], "text": [docs[j] for j in mine]})
        pq.write_table(table, split / f"part-{part}.parquet")
    encoded = [encode_document(enc, d) for d in docs]
    starts = [sum(len(e) for e in encoded[:j]) for j in range(len(docs))]
    stream = [t for e in encoded for t in e]
    per_epoch = len(stream) // n_ctx
    for k in range(n_rows):
        r = k % per_epoch
        inside = [j for j in range(len(docs)) if starts[j] < (r + 1) * n_ctx and starts[j] + len(encoded[j]) > r * n_ctx]
        named = [{"doc_id": ids[j], "offset": starts[j], "file": part_of[j]} for j in inside]
        rows.append(((2 * k + 1) / (2 * n_rows), s, name, k // per_epoch, stream[r * n_ctx:(r + 1) * n_ctx], r, named))
rows.sort()
def provenance(variant, rows, change=lambda entry: entry, files=4):
    entries = [change({"position": i, "source": r[2], "epoch": r[3], "row": r[5], "documents": r[6]}) for i, r in enumerate(rows)]
    listed = {name: files for name in targets}  # the files of each docs-split folder
    (root / variant / "provenance.json").write_text(json.dumps({"files": listed, "rows": entries}))
def each_document(change):
    return lambda entry: {**entry, "documents": [change(d) for d in entry["documents"]]}
def write(variant, rows, positions=None):
    out = root / variant / "data"
    out.mkdir(parents=True)
    table = pa.table({
        "input_ids": pa.array([r[4] for r in rows], pa.list_(pa.int32())),
        "source": [r[2] for r in rows],
        "epoch": pa.array([r[3] for r in rows], pa.int32()),
        "position": pa.array(positions or range(len(rows)), pa.int64()),
    })
    pq.write_table(table.slice(0, 100), out / "train-00000-of-00002.parquet")
    pq.write_table(table.slice(100), out / "train-00001-of-00002.parquet")
write("good", rows)
write("named", rows)
provenance("named", rows)
for variant, change in {
    "misnamed": each_document(lambda d: {**d, "doc_id": d["doc_id"] + "-other"}),  # not in their files
    "wrong-files": each_document(lambda d: {**d, "file": (d["file"] + 1) % 4}),  # documents written another way
    "no-documents": lambda entry: {**entry, "documents": []},
    "other-source": lambda entry: {**entry, "source": "webtext2" if entry["source"] != "webtext2" else "books1"},
}.items():
    write(variant, rows)
    provenance(variant, rows, change)
write("other-listing", rows)  # counted over a listing of another length: its indices mean nothing
provenance("other-listing", rows, files=5)
write("short-row", [r if i != 57 else r[:4] + (r[4][:-1],) for i, r in enumerate(rows)])
write("high-id", [r if i != 130 else r[:4] + (r[4][:-1] + [50257],) for i, r in enumerate(rows)])
write("missing-source", [r for r in rows if r[2] != "books1"])
write("skewed-prefix", sorted(rows, key=lambda r: (r[1], r[0])))
foreign = enc.encode_ordinary("zebra quartz " * n_ctx)[:n_ctx]  # valid ids, text of no document
write("foreign-text", [r[:4] + (foreign,) for r in rows])
write("repeated-position", rows, [56 if i == 57 else i for i in range(len(rows))])
# One file of one-row groups: its footer is longer than the first tail read of it.
(root / "row-groups" / "data").mkdir(parents=True)
table = pq.read_table(root / "good" / "data")
pq.write_table(table, root / "row-groups" / "data" / "train-00000-of-00001.parquet", row_group_size=1)
print(json.dumps(targets))
`;

const dir = tempDir('mix-verify');
const { mixture } = parseConfig({ mixture: { totalTokens: 200 * N_CTX } });
let plan: MixPlan;
let services: TestServices | undefined;
const roots = { local: dir, s3: `s3://${BUCKET}/mix` };
const documents: Record<string, string> = {};

before(async () => {
  const run = spawnSync(PYTHON, ['-c', FIXTURE, dir, path.join(REPO, 'spark-jobs'), String(N_CTX)], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  const rows = JSON.parse(run.stdout) as Record<string, number>;
  for (const s of Object.keys(rows)) documents[s] = `docs/${s}`;
  plan = planMixture(
    {
      ...mixture,
      nCtx: N_CTX,
      weights: { commonCrawl: 0.6, webtext2: 0.3, books1: 0.1, books2: 0, wikipedia: 0 },
    },
    { commonCrawl: { rowsPerEpoch: 40 }, webtext2: { rowsPerEpoch: 40 }, books1: { rowsPerEpoch: 40 } },
  );
  for (const [source, n] of Object.entries(rows)) {
    assert.equal(plan.sources.find((s) => s.source === source)?.targetRows, n, `${source} as planned`);
  }

  // The same files in the S3 emulator; openStorage finds it through AWS_ENDPOINT_URL_S3.
  process.env.AWS_ACCESS_KEY_ID ??= 'testing';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
  services = await startTestServices(['s3']);
  process.env.AWS_ENDPOINT_URL_S3 = s3Endpoint(services.settings);
  const client = s3Client();
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const local = new LocalStorage(dir);
  const s3 = new S3Storage(roots.s3, client);
  for (const file of await local.list('')) await s3.write(file, await local.read(file));
  client.destroy();
});
after(async () => {
  freeGpt2();
  await services?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const verify = (
  storageRoot: string,
  variant: string,
  sampleRows = 24,
  onFile?: (file: string) => void,
  docs = documents,
) => verifyMixOutput({ storageRoot, output: variant, plan, documents: docs, sampleRows }, { onFile });

for (const [backend, root] of Object.entries(roots)) {
  void describe(`${backend} storage root`, () => {
    void test('a good output passes every check', async () => {
      const read: string[] = [];
      const report = await verify(root, 'good', 200, (file) => read.push(file));
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
      // The data files (read two at a time, so in either order), then the documents.
      assert.deepEqual(
        [...read.slice(0, 2).sort(), ...read.slice(2)],
        [
          'good/data/train-00000-of-00002.parquet',
          'good/data/train-00001-of-00002.parquet',
          ...Object.keys(documents).map((s) => `docs/${s}/part-0.parquet`),
        ],
      );
    });

    void test('provenance.json: only the document files it names for the sampled rows are read', async () => {
      const split = Object.fromEntries(Object.keys(documents).map((s) => [s, `docs-split/${s}`]));
      const read: string[] = [];
      const report = await verify(root, 'named', 4, (file) => read.push(file), split);
      assert.deepEqual(
        report.checks.filter((c) => !c.ok),
        [],
      );
      const { rows } = JSON.parse(readFileSync(path.join(dir, 'named', 'provenance.json'), 'utf8')) as {
        rows: { position: number; source: string; documents: { file: number }[] }[];
      };
      const sampled = samplePositions(200, 4).map((p) => rows[p]);
      const named = new Set(
        sampled.flatMap(
          (r) => r?.documents.map((d) => `docs-split/${r.source}/part-${d.file}.parquet`) ?? [],
        ),
      );
      const docsRead = read.filter((f) => f.startsWith('docs-split/'));
      assert.deepEqual(new Set(docsRead), named);
      const stored = 4 * new Set(sampled.map((r) => r?.source)).size; // four files per source
      assert.ok(docsRead.length < stored, `read ${docsRead.length} of the ${stored} document files`);
      assert.match(
        report.checks.at(-1)?.detail ?? '',
        new RegExp(`read ${docsRead.length} of ${stored} document files: those provenance.json names`),
      );

      // Rows whose provenance names other documents, none, or another source fail, though their
      // text is in the named files.
      for (const [variant, reason] of [
        ['misnamed', /pieces not in the source documents: row \d+/],
        ['no-documents', /provenance.json names no document for row \d+/],
        ['other-source', /provenance.json gives row \d+ to \w+, not \w+/],
      ] as const) {
        const failed = (await verify(root, variant, 4, undefined, split)).checks.filter((c) => !c.ok);
        assert.deepEqual(
          failed.map((c) => c.check),
          ['decode'],
          variant,
        );
        assert.match(failed[0]?.detail ?? '', reason, variant);
      }
    });

    void test('stale file indices in provenance.json cost reads, never a failure', async () => {
      const split = Object.fromEntries(Object.keys(documents).map((s) => [s, `docs-split/${s}`]));
      for (const [variant, way] of [
        ['wrong-files', 'those provenance.json names, then others in turn'],
        ['other-listing', 'every file in turn'],
      ] as const) {
        const read: string[] = [];
        const report = await verify(root, variant, 4, (file) => read.push(file), split);
        const decode = report.checks.find((c) => c.check === 'decode');
        assert.equal(decode?.ok, true, `${variant}: ${decode?.detail}`);
        assert.match(decode?.detail ?? '', new RegExp(`document files: ${way}\\)$`), variant);
        assert.ok(
          read.filter((f) => f.startsWith('docs-split/')).length > 1,
          `${variant}: more than the one named file was read`,
        );
      }
    });

    void test('an interrupted scan resumes from its saved progress, which it then removes', async () => {
      const storage = openStorage(root);
      const input = {
        storageRoot: root,
        output: 'good',
        plan,
        documents,
        filesAtOnce: 1,
        progressEveryMs: 0,
      };
      const [first, second] = [
        'good/data/train-00000-of-00002.parquet',
        'good/data/train-00001-of-00002.parquet',
      ];
      const clean = await verifyMixOutput({ ...input, sampleRows: 24 });
      const cleanFiles = await storage.read(`good/${VERIFIED_FILES}`);
      const scannedIn = (saved: Buffer | null) =>
        saved ? (JSON.parse(saved.toString()) as { scans: { file: string }[] }).scans.map((s) => s.file) : [];
      /** A run that loses its worker once the second data file is read: it saved the first. */
      const interrupted = async () => {
        let savedThen: string[] | undefined;
        const lost = verifyMixOutput(
          { ...input, sampleRows: 24 },
          {
            onFile: (file) => {
              if (file !== second) return;
              // On local disk the saved state can be read at that moment: saved as files finish, not on failure only.
              if (backend === 'local')
                savedThen = scannedIn(readFileSync(path.join(dir, 'good', VERIFY_PROGRESS)));
              throw new Error('worker lost');
            },
          },
        );
        await assert.rejects(lost, /worker lost/);
        if (backend === 'local') assert.deepEqual(savedThen, [first]);
        assert.deepEqual(scannedIn(await storage.readIfPresent(`good/${VERIFY_PROGRESS}`)), [first]);
      };

      await interrupted();
      // Progress saved for other sampled positions is not used.
      let read: string[] = [];
      const other = await verifyMixOutput(
        { ...input, sampleRows: 200 },
        { onFile: (file) => read.push(file) },
      );
      assert.deepEqual(
        read.filter((f) => f.startsWith('good/data/')),
        [first, second],
      );
      assert.equal(other.ok, true);
      assert.equal(
        await storage.readIfPresent(`good/${VERIFY_PROGRESS}`),
        null,
        'removed once every file is read',
      );

      await interrupted();
      read = [];
      const scanned: string[] = [];
      const resumed = await verifyMixOutput(
        { ...input, sampleRows: 24 },
        {
          onFile: (file) => read.push(file),
          onDataFile: (live) => scanned.push(`${live.scanned}/${live.dataFiles}`),
        },
      );
      assert.deepEqual(
        read.filter((f) => f.startsWith('good/data/')),
        [second],
        'the first file is not read again',
      );
      assert.deepEqual(scanned, ['2/2'], 'the resumed file counts as scanned');
      assert.deepEqual(resumed, clean, 'the same report as an uninterrupted run');
      assert.deepEqual(await storage.read(`good/${VERIFIED_FILES}`), cleanFiles, 'the same sha256 per file');
      assert.equal(await storage.readIfPresent(`good/${VERIFY_PROGRESS}`), null);
    });

    if (backend === 'local') {
      void test('a progress save that fails costs the scan nothing', async () => {
        const clean = await verify(root, 'good');
        // A folder where the progress file goes: each save's rename onto it fails (EISDIR). It
        // appears once the scan has loaded its (absent) progress, and goes before the last file
        // is done, so that only saves fail, not the load or the final removal.
        const blocker = path.join(dir, 'good', VERIFY_PROGRESS);
        const report = await verifyMixOutput(
          {
            storageRoot: root,
            output: 'good',
            plan,
            documents,
            sampleRows: 24,
            filesAtOnce: 1,
            progressEveryMs: 0,
          },
          {
            onFile: (file) => {
              if (file === 'good/data/train-00000-of-00002.parquet')
                mkdirSync(path.join(blocker, 'in-the-way'), { recursive: true });
              if (file === 'good/data/train-00001-of-00002.parquet') rmSync(blocker, { recursive: true });
            },
          },
        );
        assert.deepEqual(
          readdirSync(path.join(dir, 'good')).filter((name) => name.includes('.tmp')),
          [],
          'the failed save left no temporary file',
        );
        assert.deepEqual(report, clean);
      });
    }

    void test('a Parquet footer longer than the first read of its tail', async () => {
      const report = await verify(root, 'row-groups', 200);
      assert.equal(report.rows, 200);
      assert.deepEqual(
        report.checks.filter((c) => !c.ok),
        [],
      );
    });

    for (const [variant, check] of [
      ['short-row', 'row-length'],
      ['high-id', 'id-range'],
      ['missing-source', 'rows-per-source'],
      ['skewed-prefix', 'prefix-weights'],
      ['foreign-text', 'decode'],
      ['repeated-position', 'positions'],
    ] as const) {
      void test(`${variant} fails the ${check} check, non-retryably named`, async () => {
        const report = await verify(root, variant);
        const failed = report.checks.filter((c) => !c.ok).map((c) => c.check);
        assert.ok(failed.includes(check), `${variant}: failed ${failed.join(', ')}`);
        if (variant === 'skewed-prefix') assert.deepEqual(failed, ['prefix-weights']);
        if (variant === 'short-row') assert.deepEqual(failed, ['row-length']);
        if (variant === 'foreign-text') assert.deepEqual(failed, ['decode']);
        if (variant === 'repeated-position') assert.deepEqual(failed, ['positions']);
        assert.throws(
          () => assertVerified(report),
          (e: unknown) =>
            e instanceof MixVerificationError && e.name === 'MixVerificationError' && e.check === check,
        );
      });
    }

    void test('manifest.json gives every data file the sha256 of its bytes', async () => {
      const expected = await describeLocalFiles(path.join(dir, 'good'), [
        'data/train-00000-of-00002.parquet',
        'data/train-00001-of-00002.parquet',
      ]);
      const verification = await verify(root, 'good');
      // The report goes into the workflow's history: the files, thousands at paper scale, do not.
      assert.equal(verification.files, undefined);
      assert.equal(verification.filesListedIn, `good/${VERIFIED_FILES}`);
      const stored = JSON.parse(
        (await openStorage(root).read(`good/${VERIFIED_FILES}`)).toString(),
      ) as unknown;
      assert.deepEqual(stored, expected, 'hashed while verified');
      // Reports of earlier runs: the files inline, or none (then they are hashed here).
      const inline = { ...verification, filesListedIn: undefined, files: expected };
      const without = { ...verification, filesListedIn: undefined };
      for (const report of [verification, inline, without]) {
        const summary = await writeMixManifest({
          storageRoot: root,
          output: 'good',
          config: { mixture },
          stageFingerprints: { mix: 'm' },
          plan,
          verification: report,
        });
        assert.equal(summary.files, 2);
        assert.equal(summary.manifest, openStorage(root).uri(`good/${MANIFEST_FILE}`));
        const stored = await openStorage(root).read(`good/${MANIFEST_FILE}`);
        const manifest = JSON.parse(stored.toString()) as Manifest;
        assert.deepEqual(manifest.files, expected);
        assert.equal(manifest.verification.ok, true);
      }
    });
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
  const report = await verify(dir, 'good');
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
