/**
 * Verifies a mixture output with DuckDB, an engine independent of the Spark job that wrote it.
 *
 * Checks: every row has exactly nCtx ids, each in [0, 50256]; rows per source equal the plan;
 * achieved weights are within ±0.5 percentage points of the target, overall and over the first 10%
 * of rows by position; a sample of rows decodes (npm tiktoken) into text of the source documents
 * when split at 50256. A whole row count is an integer, so on a tiny output one row can weigh more
 * than 0.5 points: the tolerance adds `roundingRows` rows over the rows compared (negligible at
 * scale: one row of 14.6M at 300B tokens).
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { GPT2_EOT, gpt2Decode } from '../tokenizer';

export type MixCheck =
  'row-length' | 'id-range' | 'rows-per-source' | 'weights' | 'prefix-weights' | 'decode';
export const MIX_CHECKS: readonly MixCheck[] = [
  'row-length',
  'id-range',
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

export interface VerifyOptions {
  /** The output folder: the Parquet files are `<dir>/data/*.parquet`. */
  dir: string;
  nCtx: number;
  /** The plan's sources; those with targetRows 0 must be absent. */
  targets: readonly SourceTarget[];
  /** The document Parquet folder (doc_id, text) each source was mixed from. */
  documents: Readonly<Record<string, string>>;
  sampleRows?: number;
  tolerancePp?: number;
  prefixFraction?: number;
  roundingRows?: number;
}

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

export async function verifyMix(options: VerifyOptions): Promise<VerificationReport> {
  const { nCtx, targets, tolerancePp = 0.5, prefixFraction = 0.1, roundingRows = 1 } = options;
  const data = `read_parquet(${sql(`${options.dir}/data/*.parquet`)})`;
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    const [shape] = await rowsOf(
      db,
      `SELECT count(*) AS n,
         count(*) FILTER (WHERE len(input_ids) IS DISTINCT FROM ${nCtx}) AS bad_len,
         count(*) FILTER (WHERE list_count(input_ids) <> len(input_ids) OR list_min(input_ids) < 0
                          OR list_max(input_ids) > ${GPT2_EOT}) AS bad_ids
       FROM ${data}`,
    );
    const total = Number(shape?.n ?? 0);
    const prefixRows = Math.ceil(total * prefixFraction);
    const counts = await rowsOf(
      db,
      `SELECT source, count(*) AS n, count(*) FILTER (WHERE position < ${prefixRows}) AS p
       FROM ${data} GROUP BY source ORDER BY source`,
    );
    const sources: Record<string, SourceFigures> = {};
    for (const c of counts) {
      sources[String(c.source)] = {
        rows: Number(c.n),
        weight: Number(c.n) / Math.max(total, 1),
        prefixWeight: Number(c.p) / Math.max(prefixRows, 1),
      };
    }
    const checks: CheckResult[] = [
      result('row-length', Number(shape?.bad_len), `rows without exactly ${nCtx} ids`),
      result('id-range', Number(shape?.bad_ids), `rows with an id outside [0, ${GPT2_EOT}] or null`),
      rowsCheck(targets, sources),
      weightCheck('weights', targets, sources, 'weight', tolerancePp + (100 * roundingRows) / total),
      weightCheck(
        'prefix-weights',
        targets,
        sources,
        'prefixWeight',
        tolerancePp + (100 * roundingRows) / prefixRows,
      ),
      await decodeCheck(db, data, total, options),
    ];
    return { ok: checks.every((c) => c.ok), rows: total, prefixRows, sources, checks };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
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

async function decodeCheck(
  db: DuckDBConnection,
  data: string,
  total: number,
  options: VerifyOptions,
): Promise<CheckResult> {
  const n = Math.min(options.sampleRows ?? 16, total);
  const positions = Array.from({ length: n }, (_, i) => Math.floor(((i + 0.5) * total) / n));
  if (n === 0) return { check: 'decode', ok: false, detail: 'no rows to decode' };
  const sample = await rowsOf(
    db,
    `SELECT position, source, input_ids FROM ${data} WHERE position IN (${positions.join(',')}) ORDER BY position`,
  );
  await db.run(
    'CREATE OR REPLACE TEMP TABLE pieces (pos BIGINT, source VARCHAR, kind VARCHAR, text VARCHAR)',
  );
  let count = 0;
  const unmatched: string[] = [];
  for (const row of sample) {
    const ids = (row.input_ids as number[]).map(Number);
    let pieces: ReturnType<typeof rowPieces>;
    try {
      pieces = rowPieces(ids);
    } catch (error) {
      unmatched.push(`row ${Number(row.position)} does not decode: ${String(error)}`);
      continue;
    }
    for (const piece of pieces) {
      await db.run('INSERT INTO pieces VALUES ($1, $2, $3, $4)', [
        Number(row.position),
        String(row.source),
        piece.kind,
        piece.text,
      ]);
      count += 1;
    }
  }
  for (const source of [...new Set(sample.map((r) => String(r.source)))]) {
    const folder = options.documents[source];
    if (!folder) {
      unmatched.push(`no documents given for ${source}`);
      continue;
    }
    const docs = `read_parquet(${sql(`${folder}/**/*.parquet`)})`;
    const missing = await rowsOf(
      db,
      `SELECT pos, kind, left(text, 40) AS head FROM pieces p WHERE source = ${sql(source)} AND NOT EXISTS (
         SELECT 1 FROM ${docs} d WHERE CASE p.kind
           WHEN 'whole' THEN d.text = p.text WHEN 'suffix' THEN ends_with(d.text, p.text)
           WHEN 'prefix' THEN starts_with(d.text, p.text) ELSE contains(d.text, p.text) END)
       ORDER BY pos`,
    );
    for (const m of missing)
      unmatched.push(`row ${Number(m.pos)} (${source}): ${String(m.kind)} ${JSON.stringify(m.head)}`);
  }
  const detail = unmatched.length
    ? `${unmatched.length} of ${count} pieces not in the source documents: ${unmatched.slice(0, 5).join('; ')}`
    : `${count} pieces of ${sample.length} rows found in their source documents`;
  return { check: 'decode', ok: unmatched.length === 0 && sample.length === n, detail };
}
