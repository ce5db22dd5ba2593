/**
 * Verifies a mixture output with DuckDB, an engine independent of the Spark job that wrote it.
 *
 * Checks: every row has exactly nCtx ids, each in [0, 50256]; the positions run from 0 to the
 * last row once each; rows per source equal the plan;
 * achieved weights are within ±0.5 percentage points of the target, overall and over the first 10%
 * of rows by position; a sample of rows decodes (npm tiktoken) into text of the source documents
 * when split at 50256 (the documents the mix job's provenance.json names for those rows, read
 * from the files it names first: at paper scale a source is hundreds of GB). A whole row count
 * is an integer, so on a tiny output one row can weigh more than 0.5 points: the tolerance adds
 * `roundingRows` rows over the rows compared (negligible at scale: one row of 146.5 million at
 * 300B tokens).
 *
 * The files are read through a MixReader, `FILES_AT_ONCE` at a time: on S3 each is a local copy
 * that exists only while DuckDB reads it. The total comes first from the Parquet footers (cheap
 * range reads), so one pass over the data files yields every count, the sampled rows and each
 * file's sha256. That pass saves what each file held as it goes (`progress`): a retry resumes it.
 */
import { createHash } from 'node:crypto';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { GPT2_EOT, gpt2Decode } from '../tokenizer';
import type { OutputFile } from './manifest';
import { samplePositions } from './plan';

export type MixCheck =
  'row-length' | 'id-range' | 'positions' | 'rows-per-source' | 'weights' | 'prefix-weights' | 'decode';
export const MIX_CHECKS: readonly MixCheck[] = [
  'row-length',
  'id-range',
  'positions',
  'rows-per-source',
  'weights',
  'prefix-weights',
  'decode',
];

export interface CheckResult {
  check: MixCheck;
  ok: boolean;
  detail: string;
}

export interface SourceTarget {
  source: string;
  weight: number;
  targetRows: number;
}

/** A stored file's bytes at a local path, for DuckDB, while `withLocalCopy`'s callback runs. */
export interface LocalCopy {
  path: string;
  /** Size and sha256 of the bytes at `path` (an S3 copy was hashed as it streamed). */
  describe(): Promise<{ bytes: number; sha256: string }>;
}

/** How verification reaches stored files; every path is relative to the storage root. */
export interface MixReader {
  /** Every file under a folder (`folder/` as a prefix), sorted. */
  list(prefix: string): Promise<string[]>;
  /** A small file whole (provenance.json), or null when there is none. */
  readIfPresent(file: string): Promise<Uint8Array | null>;
  /** Rows in a Parquet file, from its footer alone. */
  parquetRows(file: string): Promise<number>;
  /** Runs `use` on a local copy of `file`; a temporary copy is deleted when `use` settles. */
  withLocalCopy<T>(file: string, use: (copy: LocalCopy) => Promise<T>): Promise<T>;
}

export interface VerifyOptions {
  reader: MixReader;
  /** The output folder: the Parquet files are `<output>/data/*.parquet`. */
  output: string;
  nCtx: number;
  /** The plan's sources; those with targetRows 0 must be absent. */
  targets: readonly SourceTarget[];
  /** The document Parquet folder (doc_id, text) each source was mixed from. */
  documents: Readonly<Record<string, string>>;
  sampleRows?: number;
  tolerancePp?: number;
  prefixFraction?: number;
  roundingRows?: number;
  /** Data files read at once (`FILES_AT_ONCE`). */
  filesAtOnce?: number;
  /** Where the data scan keeps what it has read, so that an interrupted one resumes (none: starts over). */
  progress?: ScanProgress;
  /** Called after each data file is scanned. */
  onDataFile?: (live: VerifyLive) => void;
}

/** How far the data scan is: the verification activity's heartbeat, which `ccmix status` shows. */
export interface VerifyLive {
  /** Data files scanned, those a retry resumed from the saved progress included. */
  scanned: number;
  dataFiles: number;
}

/**
 * The data scan's saved state: at paper scale it reads ~2,930 files for over an hour, and a
 * retried activity should not read them all again. `save` gets a JSON-ready value.
 */
export interface ScanProgress {
  load(): Promise<unknown>;
  save(state: unknown): Promise<void>;
  /** Saves at most this often while files are read (and once more when the scan fails). */
  everyMs: number;
}

/**
 * On S3 each data file is a download (~130 MB at paper scale) before DuckDB reads it, and DuckDB
 * already uses every core on one file: two at once let one file download while another is read.
 */
export const FILES_AT_ONCE = 2;

export interface SourceFigures {
  rows: number;
  weight: number;
  prefixWeight: number;
}

export interface VerificationReport {
  ok: boolean;
  rows: number;
  prefixRows: number;
  sources: Record<string, SourceFigures>;
  checks: CheckResult[];
  /**
   * The data files as verified (paths relative to the output folder), with the sha256 of the
   * bytes that were checked: the manifest lists them without reading the files again.
   */
  files?: OutputFile[];
  /**
   * Where `files` went instead (storage-relative JSON), in the report an activity returns: at
   * paper scale they are thousands of entries, too many for a workflow's history.
   */
  filesListedIn?: string;
}

/** A failed verification: not retryable (the output is wrong, a retry writes the same bytes). */
export class MixVerificationError extends Error {
  readonly check: MixCheck;
  readonly failed: CheckResult[];
  constructor(failed: CheckResult[]) {
    super(`mixture verification failed: ${failed.map((f) => `${f.check}: ${f.detail}`).join('; ')}`);
    this.name = 'MixVerificationError';
    this.check = failed[0]?.check ?? 'row-length';
    this.failed = failed;
  }
}

export function assertVerified(report: VerificationReport): void {
  const failed = report.checks.filter((c) => !c.ok);
  if (failed.length > 0) throw new MixVerificationError(failed);
}

const sql = (s: string) => `'${s.replaceAll("'", "''")}'`;

async function rowsOf(db: DuckDBConnection, query: string): Promise<Record<string, unknown>[]> {
  return (await db.runAndReadAll(query)).getRowObjectsJS();
}

/** The output's Parquet files, `<output>/data/*.parquet` (storage-relative), sorted. */
export async function mixDataFiles(reader: MixReader, output: string): Promise<string[]> {
  const dataDir = `${output}/data/`;
  return (await reader.list(dataDir)).filter(
    (f) => f.endsWith('.parquet') && !f.slice(dataDir.length).includes('/'),
  );
}

/** What one data file holds: its counts, its sampled rows, its bytes. Saved as JSON. */
interface FileScan {
  /** Storage-relative. */
  file: string;
  /** Per source: rows, and rows in the first `prefixRows` positions. */
  sources: Record<string, { rows: number; prefix: number }>;
  badLength: number;
  badIds: number;
  /** Its rows, distinct positions and their range (the `positions` check); none if empty. */
  span?: { rows: number; distinct: number; lo: number; hi: number };
  sample: SampledRow[];
  bytes: number;
  sha256: string;
}

interface SampledRow {
  position: number;
  source: string;
  input_ids: number[];
}

/** The per-file scans summed over the data files. */
interface DataScan {
  rows: number;
  badLength: number;
  badIds: number;
  perSource: Map<string, { rows: number; prefix: number }>;
  sample: SampledRow[];
  files: OutputFile[];
  spans: { file: string; rows: number; distinct: number; lo: number; hi: number }[];
}

export async function verifyMix(options: VerifyOptions): Promise<VerificationReport> {
  const { reader, nCtx, targets, tolerancePp = 0.5, prefixFraction = 0.1, roundingRows = 1 } = options;
  const files = await mixDataFiles(reader, options.output);
  const footerRows: number[] = [];
  for (const file of files) footerRows.push(await reader.parquetRows(file));
  const total = footerRows.reduce((sum, rows) => sum + rows, 0);
  const prefixRows = Math.ceil(total * prefixFraction);
  // The positions the mix job was asked to name: from the plan's rows (equal to the data's when
  // the output is right; when not, rows-per-source fails, and the decode check samples within).
  const planned = targets.reduce((sum, t) => sum + t.targetRows, 0);
  const positions = samplePositions(planned || total, options.sampleRows ?? 16).filter((p) => p < total);
  const n = positions.length;
  // A saved scan is used only for the same files, footers and questions (hashed: at paper scale
  // the file list alone is ~300 KB, and the progress is saved every 30 s).
  const scanKey = createHash('sha256')
    .update(JSON.stringify({ nCtx, prefixRows, positions, files: files.map((f, i) => [f, footerRows[i]]) }))
    .digest('hex');
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  const lanes = [db];
  try {
    while (lanes.length < Math.max(1, options.filesAtOnce ?? FILES_AT_ONCE))
      lanes.push(await instance.connect());
    const scanned = await scanData(lanes, options, files, scanKey, (db, file) =>
      scanFile(db, options, file, prefixRows, positions),
    );
    const scan = sumScans(scanned, options.output);
    if (scan.rows !== total) {
      throw new Error(
        `${options.output}/data holds ${scan.rows} rows, its Parquet footers ${total}: did it change?`,
      );
    }
    const sources: Record<string, SourceFigures> = {};
    for (const name of [...scan.perSource.keys()].sort()) {
      const c = scan.perSource.get(name) ?? { rows: 0, prefix: 0 };
      sources[name] = {
        rows: c.rows,
        weight: c.rows / Math.max(total, 1),
        prefixWeight: c.prefix / Math.max(prefixRows, 1),
      };
    }
    const checks: CheckResult[] = [
      result('row-length', scan.badLength, `rows without exactly ${nCtx} ids`),
      result('id-range', scan.badIds, `rows with an id outside [0, ${GPT2_EOT}] or null`),
      positionsCheck(scan.spans, total),
      rowsCheck(targets, sources),
      weightCheck('weights', targets, sources, 'weight', tolerancePp + (100 * roundingRows) / total),
      weightCheck(
        'prefix-weights',
        targets,
        sources,
        'prefixWeight',
        tolerancePp + (100 * roundingRows) / prefixRows,
      ),
      await decodeCheck(db, scan.sample, n, options),
    ];
    return { ok: checks.every((c) => c.ok), rows: total, prefixRows, sources, checks, files: scan.files };
  } finally {
    for (const lane of lanes) lane.closeSync();
    instance.closeSync();
  }
}

/** One data file's aggregates, sampled rows and sha256, from a local copy of it. */
function scanFile(
  db: DuckDBConnection,
  options: VerifyOptions,
  file: string,
  prefixRows: number,
  positions: readonly number[],
): Promise<FileScan> {
  return options.reader.withLocalCopy(file, async (copy) => {
    const data = `read_parquet(${sql(copy.path)})`;
    // One pass: a row per source, and one for the whole file (`whole`), with its distinct positions.
    const aggregates = await rowsOf(
      db,
      `SELECT source, GROUPING(source) AS whole, count(*) AS n,
         count(*) FILTER (WHERE position < ${prefixRows}) AS p, count(DISTINCT position) AS d,
         sum(bad_len) AS bad_len, sum(bad_ids) AS bad_ids, min(position) AS lo, max(position) AS hi
       FROM (SELECT source, position,
               (len(input_ids) IS DISTINCT FROM ${options.nCtx})::INT AS bad_len,
               (list_count(input_ids) <> len(input_ids) OR list_min(input_ids) < 0
                OR list_max(input_ids) > ${GPT2_EOT})::INT AS bad_ids
             FROM ${data})
       GROUP BY GROUPING SETS ((source), ())`,
    );
    const groups = aggregates.filter((g) => Number(g.whole) === 0);
    const scan: FileScan = { file, sources: {}, badLength: 0, badIds: 0, sample: [], bytes: 0, sha256: '' };
    for (const g of groups) {
      scan.sources[String(g.source)] = { rows: Number(g.n), prefix: Number(g.p) };
      scan.badLength += Number(g.bad_len ?? 0);
      scan.badIds += Number(g.bad_ids ?? 0);
    }
    const whole = aggregates.find((g) => Number(g.whole) === 1);
    if (whole && Number(whole.n) > 0) {
      const [rows, distinct] = [Number(whole.n), Number(whole.d)];
      scan.span = { rows, distinct, lo: Number(whole.lo), hi: Number(whole.hi) };
    }
    const held = positions.filter((p) =>
      groups.some((g) => g.lo !== null && Number(g.lo) <= p && p <= Number(g.hi)),
    );
    if (held.length > 0) {
      const sampled = await rowsOf(
        db,
        `SELECT position, source, input_ids FROM ${data} WHERE position IN (${held.join(',')})`,
      );
      scan.sample = sampled.map((r) => ({
        position: Number(r.position),
        source: String(r.source),
        input_ids: (r.input_ids as unknown[]).map(Number),
      }));
    }
    return { ...scan, ...(await copy.describe()) };
  });
}

/**
 * Scans every data file not already in the saved progress, each lane (a DuckDB connection)
 * taking the next file until none is left or one of them fails. Progress is saved every
 * `everyMs` as files finish, and once more on a failure.
 */
async function scanData(
  lanes: readonly DuckDBConnection[],
  options: VerifyOptions,
  files: readonly string[],
  key: string,
  scan: (db: DuckDBConnection, file: string) => Promise<FileScan>,
): Promise<FileScan[]> {
  const { progress, onDataFile } = options;
  const saved = (await progress?.load()) as { key?: string; scans?: FileScan[] } | null | undefined;
  const done = new Map<string, FileScan>();
  // The key names every file, so a saved scan that matches it holds only files of this listing.
  if (saved?.key === key) for (const s of saved.scans ?? []) done.set(s.file, s);
  const todo = files.filter((f) => !done.has(f));
  let saving = Promise.resolve();
  let lastSave = Date.now();
  // Saves follow one another; one that fails costs a retry more reading, never this scan.
  const save = () => {
    lastSave = Date.now();
    const state = { key, scans: [...done.values()] };
    saving = saving.then(() => progress?.save(state)).catch(() => undefined);
    return saving;
  };
  let next = 0;
  let failed = false;
  // Settled, not raced: a failure stops the other lanes at their next file, and the connections
  // are closed only once none of them is still reading.
  const lanesDone = await Promise.allSettled(
    lanes.map(async (db) => {
      while (!failed && next < todo.length) {
        const file = todo[next++] as string;
        const scanned = await scan(db, file).catch((error: unknown) => {
          failed = true;
          throw error;
        });
        done.set(file, scanned);
        onDataFile?.({ scanned: done.size, dataFiles: files.length });
        if (progress && Date.now() - lastSave >= progress.everyMs) await save();
      }
    }),
  );
  const failure = lanesDone.find((lane) => lane.status === 'rejected');
  if (failure) {
    if (progress && done.size > 0) await save();
    throw failure.reason;
  }
  await saving;
  return files.map((f) => done.get(f) as FileScan);
}

function sumScans(scans: readonly FileScan[], output: string): DataScan {
  const sum: DataScan = {
    rows: 0,
    badLength: 0,
    badIds: 0,
    perSource: new Map(),
    sample: [],
    files: [],
    spans: [],
  };
  for (const s of scans) {
    for (const [name, c] of Object.entries(s.sources)) {
      const seen = sum.perSource.get(name) ?? { rows: 0, prefix: 0 };
      sum.perSource.set(name, { rows: seen.rows + c.rows, prefix: seen.prefix + c.prefix });
      sum.rows += c.rows;
    }
    sum.badLength += s.badLength;
    sum.badIds += s.badIds;
    if (s.span) sum.spans.push({ file: s.file, ...s.span });
    sum.sample.push(...s.sample);
    sum.files.push({ path: s.file.slice(output.length + 1), bytes: s.bytes, sha256: s.sha256 });
  }
  sum.sample.sort((a, b) => a.position - b.position);
  sum.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return sum;
}

/**
 * Every position from 0 to rows - 1 exactly once (the global order a trainer reads): each file's
 * positions are distinct and consecutive, and the files' ranges follow one another from 0.
 */
function positionsCheck(spans: DataScan['spans'], total: number): CheckResult {
  const wrong: string[] = [];
  let next = 0;
  for (const span of [...spans].sort((a, b) => a.lo - b.lo)) {
    if (span.distinct !== span.rows) wrong.push(`${span.file}: ${span.rows - span.distinct} repeated`);
    else if (span.hi - span.lo + 1 !== span.rows) wrong.push(`${span.file}: gaps in ${span.lo}..${span.hi}`);
    else if (span.lo !== next) wrong.push(`${span.file} starts at ${span.lo}, not ${next}`);
    next = span.hi + 1;
  }
  if (wrong.length === 0 && next !== total) wrong.push(`positions end at ${next - 1}, not ${total - 1}`);
  return {
    check: 'positions',
    ok: wrong.length === 0,
    detail: wrong.join('; ') || `0..${total - 1} once each`,
  };
}

function result(check: MixCheck, bad: number, what: string): CheckResult {
  return { check, ok: bad === 0, detail: `${bad} ${what}` };
}

function rowsCheck(targets: readonly SourceTarget[], sources: Record<string, SourceFigures>): CheckResult {
  const wrong: string[] = [];
  for (const t of targets) {
    const rows = sources[t.source]?.rows ?? 0;
    if (rows !== t.targetRows) wrong.push(`${t.source} has ${rows} rows, planned ${t.targetRows}`);
  }
  for (const name of Object.keys(sources)) {
    if (!targets.some((t) => t.source === name)) wrong.push(`${name} is not in the plan`);
  }
  return { check: 'rows-per-source', ok: wrong.length === 0, detail: wrong.join('; ') || 'as planned' };
}

function weightCheck(
  check: MixCheck,
  targets: readonly SourceTarget[],
  sources: Record<string, SourceFigures>,
  field: 'weight' | 'prefixWeight',
  tolerancePp: number,
): CheckResult {
  const parts = targets.map((t) => {
    const pp = 100 * ((sources[t.source]?.[field] ?? 0) - t.weight);
    return { source: t.source, pp, ok: Math.abs(pp) <= tolerancePp };
  });
  const worst = parts.reduce<(typeof parts)[number] | undefined>(
    (a, b) => (a && Math.abs(a.pp) >= Math.abs(b.pp) ? a : b),
    undefined,
  );
  const detail =
    `largest deviation ${worst?.source ?? '-'} ${(worst?.pp ?? 0).toFixed(3)} pp (tolerance ${tolerancePp.toFixed(3)})` +
    parts
      .filter((p) => !p.ok)
      .map((p) => `; ${p.source} off by ${p.pp.toFixed(3)} pp`)
      .join('');
  return { check, ok: parts.every((p) => p.ok), detail };
}

type PieceKind = 'whole' | 'suffix' | 'prefix' | 'inner';

/** A row split at 50256: whole documents between two separators, fragments at the edges. */
export function rowPieces(ids: readonly number[]): { kind: PieceKind; text: string }[] {
  const cuts = ids.flatMap((id, i) => (id === GPT2_EOT ? [i] : []));
  if (cuts.length === 0) return [{ kind: 'inner', text: trimBroken(gpt2Decode(ids), true, true) }];
  const pieces = [
    { kind: 'suffix' as PieceKind, text: trimBroken(gpt2Decode(ids.slice(0, cuts[0])), true, false) },
  ];
  for (let i = 0; i + 1 < cuts.length; i++) {
    pieces.push({ kind: 'whole', text: gpt2Decode(ids.slice((cuts[i] ?? 0) + 1, cuts[i + 1])) });
  }
  const tail = ids.slice((cuts.at(-1) ?? 0) + 1);
  pieces.push({ kind: 'prefix', text: trimBroken(gpt2Decode(tail), false, true) });
  return pieces.filter((p) => p.kind === 'whole' || p.text.length > 0);
}

/** A row boundary can cut a UTF-8 character; its decoded halves are U+FFFD at the cut edges. */
function trimBroken(text: string, start: boolean, end: boolean): string {
  let t = text;
  if (start) t = t.replace(/^\uFFFD+/, '');
  if (end) t = t.replace(/\uFFFD+$/, '');
  return t;
}

/** The mix job's `<output>/provenance.json` (spark_jobs/mix_provenance.py), as far as it is read. */
interface Provenance {
  /** Per source, the Parquet files its folder's listing held; `file` indexes that sorted listing. */
  files: Record<string, number>;
  rows: { position: number; source: string; documents: { doc_id: string; file: number }[] }[];
}

async function readProvenance(reader: MixReader, output: string): Promise<Provenance> {
  const data = await reader.readIfPresent(`${output}/provenance.json`);
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as Provenance) : { files: {}, rows: [] };
}

/** A folder's Parquet files as Spark lists them: sorted, none below a `_` or `.` name. */
async function parquetFiles(reader: MixReader, folder: string): Promise<string[]> {
  return (await reader.list(`${folder}/`)).filter(
    (f) =>
      f.endsWith('.parquet') &&
      !f
        .slice(folder.length + 1)
        .split('/')
        .some((part) => part.startsWith('_') || part.startsWith('.')),
  );
}

async function decodeCheck(
  db: DuckDBConnection,
  sample: readonly SampledRow[],
  n: number,
  options: VerifyOptions,
): Promise<CheckResult> {
  if (n === 0) return { check: 'decode', ok: false, detail: 'no rows to decode' };
  const provenance = await readProvenance(options.reader, options.output);
  const named = new Map(provenance.rows.map((r) => [r.position, r]));
  await db.run(
    `CREATE OR REPLACE TEMP TABLE pieces
       (pos BIGINT, source VARCHAR, kind VARCHAR, text VARCHAR, found BOOLEAN DEFAULT false)`,
  );
  // A row provenance.json names must match one of its named documents; other rows, any.
  await db.run('CREATE OR REPLACE TEMP TABLE named (pos BIGINT, doc_id VARCHAR)');
  const values: (string | number)[] = [];
  const unmatched: string[] = [];
  const namedRows: (string | number)[] = [];
  for (const row of sample) {
    const { position: pos, source } = row;
    let pieces: ReturnType<typeof rowPieces>;
    try {
      pieces = rowPieces(row.input_ids);
    } catch (error) {
      unmatched.push(`row ${pos} does not decode: ${String(error)}`);
      continue;
    }
    for (const piece of pieces) values.push(pos, source, piece.kind, piece.text);
    const entry = named.get(pos);
    if (!entry) continue;
    if (entry.source !== source)
      unmatched.push(`provenance.json gives row ${pos} to ${entry.source}, not ${source}`);
    else if (entry.documents.length === 0) unmatched.push(`provenance.json names no document for row ${pos}`);
    else for (const d of entry.documents) namedRows.push(pos, d.doc_id);
  }
  await insert(db, 'pieces (pos, source, kind, text)', values, 4);
  await insert(db, 'named', namedRows, 2);
  const count = values.length / 4;
  let read = 0;
  let stored = 0;
  const ways = new Set<string>();
  for (const source of [...new Set(sample.map((r) => r.source))]) {
    const folder = options.documents[source];
    if (!folder) {
      unmatched.push(`no documents given for ${source}`);
      continue;
    }
    const files = await parquetFiles(options.reader, folder);
    stored += files.length;
    // The files provenance.json names come first; the others only for what those did not hold
    // (a listing of another length, or documents written again another way, leave them stale).
    const hinted = new Set<string>();
    if (provenance.files[source] === files.length) {
      for (const row of sample.filter((r) => r.source === source)) {
        for (const d of named.get(row.position)?.documents ?? []) {
          const file = files[d.file];
          if (file) hinted.add(file);
        }
      }
    }
    const search = [...files.filter((f) => hinted.has(f)), ...files.filter((f) => !hinted.has(f))];
    const found = await matchDocuments(db, options.reader, source, search);
    read += found.read;
    if (hinted.size === 0) ways.add('every file in turn');
    else if (found.read <= hinted.size) ways.add('those provenance.json names');
    else ways.add('those provenance.json names, then others in turn');
    unmatched.push(
      ...found.missing.map((m) => (files.length === 0 ? `${m} (no Parquet files under ${folder})` : m)),
    );
  }
  const searched = `read ${read} of ${stored} document files: ${[...ways].join('; ')}`;
  const detail = unmatched.length
    ? `${unmatched.length} of ${count} pieces not in the source documents: ${unmatched.slice(0, 5).join('; ')}`
    : `${count} pieces of ${sample.length} rows found in their source documents (${searched})`;
  return { check: 'decode', ok: unmatched.length === 0 && sample.length === n, detail };
}

/** Inserts `values` into `table` as rows of `width` columns (nothing when there are none). */
async function insert(db: DuckDBConnection, table: string, values: (string | number)[], width: number) {
  const rows = values.length / width;
  if (rows === 0) return;
  const tuples = Array.from(
    { length: rows },
    (_, i) => `(${Array.from({ length: width }, (_, j) => `$${width * i + j + 1}`).join(', ')})`,
  );
  await db.run(`INSERT INTO ${table} VALUES ${tuples.join(', ')}`, values);
}

/** Looks for a source's pieces one document file at a time, until every piece is found. */
async function matchDocuments(
  db: DuckDBConnection,
  reader: MixReader,
  source: string,
  files: readonly string[],
): Promise<{ read: number; missing: string[] }> {
  const left = async () =>
    Number(
      (await rowsOf(db, `SELECT count(*) AS n FROM pieces WHERE source = ${sql(source)} AND NOT found`))[0]
        ?.n,
    );
  let read = 0;
  for (const file of files) {
    if ((await left()) === 0) break;
    read += 1;
    await reader.withLocalCopy(file, (copy) =>
      db.run(
        `UPDATE pieces p SET found = true WHERE source = ${sql(source)} AND NOT found AND EXISTS (
           SELECT 1 FROM read_parquet(${sql(copy.path)}) d WHERE CASE p.kind
             WHEN 'whole' THEN d.text = p.text WHEN 'suffix' THEN ends_with(d.text, p.text)
             WHEN 'prefix' THEN starts_with(d.text, p.text) ELSE contains(d.text, p.text) END
           AND (NOT EXISTS (SELECT 1 FROM named n WHERE n.pos = p.pos)
                OR EXISTS (SELECT 1 FROM named n WHERE n.pos = p.pos AND n.doc_id = d.doc_id)))`,
      ),
    );
  }
  const missing = await rowsOf(
    db,
    `SELECT pos, kind, left(text, 40) AS head FROM pieces
     WHERE source = ${sql(source)} AND NOT found ORDER BY pos`,
  );
  return {
    read,
    missing: missing.map(
      (m) => `row ${Number(m.pos)} (${source}): ${String(m.kind)} ${JSON.stringify(m.head)}`,
    ),
  };
}
