/**
 * The mixture plan: how many 2048-token rows each source contributes, and how many epochs of it
 * that is, from the configured weights, the token budget and what the run actually measured.
 *
 * Table 2.2's weights sum to 1.01, so they are normalised (and the factor is part of the plan).
 * The paper's own figures ride along as data, for the report, and are never used to compute.
 */
import { DEFAULT_MAX_EPOCHS, type Config } from '../../config/schema';

export type Mixture = Config['mixture'];
export type MixSource = keyof Mixture['weights'];

/** In the order of Table 2.2; the output's `source` column uses these names. */
export const MIX_SOURCES: readonly MixSource[] = ['commonCrawl', 'webtext2', 'books1', 'books2', 'wikipedia'];

export interface PaperFigures {
  /** "Quantity (tokens)". */
  tokens: number;
  /** "Weight in training mix". */
  weight: number;
  /** "Epochs elapsed when training for 300B tokens". */
  epochs: number;
}

/** Table 2.2 as printed (Brown et al. 2020). */
export const PAPER_TABLE_2_2: Readonly<Record<MixSource, PaperFigures>> = {
  commonCrawl: { tokens: 410e9, weight: 0.6, epochs: 0.44 },
  webtext2: { tokens: 19e9, weight: 0.22, epochs: 2.9 },
  books1: { tokens: 12e9, weight: 0.08, epochs: 1.9 },
  books2: { tokens: 55e9, weight: 0.08, epochs: 0.43 },
  wikipedia: { tokens: 3e9, weight: 0.03, epochs: 3.4 },
};
export const PAPER_TRAINING_TOKENS = 300e9;

/** What the run measured of one deduped dataset: its tokens (one end-of-text per document included)
 * or directly the packed rows one epoch yields. */
export type Measured = { tokens: number; documents?: number } | { rowsPerEpoch: number; documents?: number };

export interface SourcePlan {
  source: MixSource;
  /** As configured (Table 2.2's by default). */
  configuredWeight: number;
  /** After normalisation: the target share of rows. 0 for a dropped source. */
  weight: number;
  tokensPerEpoch: number | null;
  documents: number | null;
  /** floor(tokens / nCtx): one epoch packed into full rows, the partial tail dropped. */
  rowsPerEpoch: number;
  targetRows: number;
  targetTokens: number;
  /** targetRows / rowsPerEpoch; fractional when the last epoch is partial. */
  epochs: number;
  /** The paper's arithmetic: configured weight × totalTokens / tokens, without normalisation. */
  epochsAtConfiguredWeight: number | null;
  paper: PaperFigures;
}

export interface MixPlan {
  nCtx: number;
  totalTokens: number;
  /** floor(totalTokens / nCtx), split over the sources by largest remainder. */
  totalRows: number;
  normalisation: {
    /** Sum of the configured weights (1.01 for Table 2.2). */
    configuredSum: number;
    /** Sum of the weights of the sources kept; every kept weight is divided by it. */
    divisor: number;
    /** Sources with weight > 0 and no data, dropped because onMissingSource is 'renormalise'. */
    dropped: MixSource[];
  };
  sources: SourcePlan[];
}

export class MixPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MixPlanError';
  }
}

function rowsOf(measured: Measured | undefined, nCtx: number): number {
  if (!measured) return 0;
  const rows = 'rowsPerEpoch' in measured ? measured.rowsPerEpoch : Math.floor(measured.tokens / nCtx);
  if (!Number.isInteger(rows) || rows < 0) throw new MixPlanError(`measured rows must be >= 0, got ${rows}`);
  return rows;
}

/** Splits `total` into integers proportional to `weights` (largest remainder, ties by order). */
export function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const quotas = weights.map((w) => (sum > 0 ? (w / sum) * total : 0));
  const counts = quotas.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = quotas
    .map((q, i) => ({ i, rest: q - Math.floor(q) }))
    .sort((a, b) => b.rest - a.rest || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    if ((weights[i] ?? 0) <= 0) continue;
    counts[i] = (counts[i] ?? 0) + 1;
    left -= 1;
  }
  return counts;
}

export function planMixture(mixture: Mixture, measured: Partial<Record<MixSource, Measured>>): MixPlan {
  const { nCtx, totalTokens } = mixture;
  const rows = Object.fromEntries(MIX_SOURCES.map((s) => [s, rowsOf(measured[s], nCtx)])) as Record<
    MixSource,
    number
  >;
  const missing = MIX_SOURCES.filter((s) => mixture.weights[s] > 0 && rows[s] === 0);
  if (missing.length > 0 && mixture.onMissingSource !== 'renormalise') {
    throw new MixPlanError(
      `no data (fewer than ${nCtx} tokens) for source(s) with weight > 0: ${missing.join(', ')}; ` +
        `set mixture.onMissingSource to 'renormalise' to mix what exists`,
    );
  }
  const kept = MIX_SOURCES.map((s) => (missing.includes(s) ? 0 : mixture.weights[s]));
  const divisor = kept.reduce((a, b) => a + b, 0);
  if (divisor <= 0) throw new MixPlanError(`no source with weight > 0 has data`);
  const totalRows = Math.floor(totalTokens / nCtx);
  if (totalRows < 1) throw new MixPlanError(`totalTokens ${totalTokens} is less than one row of ${nCtx}`);
  const targets = apportion(totalRows, kept);
  const sources = MIX_SOURCES.map((source, i): SourcePlan => {
    const m = measured[source];
    const tokens = m && 'tokens' in m ? m.tokens : null;
    const targetRows = targets[i] ?? 0;
    return {
      source,
      configuredWeight: mixture.weights[source],
      weight: (kept[i] ?? 0) / divisor,
      tokensPerEpoch: tokens,
      documents: m?.documents ?? null,
      rowsPerEpoch: rows[source],
      targetRows,
      targetTokens: targetRows * nCtx,
      epochs: rows[source] > 0 ? targetRows / rows[source] : 0,
      epochsAtConfiguredWeight: tokens ? (mixture.weights[source] * totalTokens) / tokens : null,
      paper: PAPER_TABLE_2_2[source],
    };
  });
  const maxEpochs = mixture.maxEpochs ?? DEFAULT_MAX_EPOCHS;
  const repeated = sources.filter((s) => s.epochs > maxEpochs);
  if (repeated.length > 0) {
    const which = repeated.map(
      (s) => `${s.source} ${s.epochs.toFixed(1)} epochs (${s.rowsPerEpoch} rows each)`,
    );
    throw new MixPlanError(
      `more than mixture.maxEpochs (${maxEpochs}) of ${which.join(', ')}: the data is far too small for ` +
        `totalTokens ${totalTokens}; lower totalTokens or the weight, or raise maxEpochs`,
    );
  }
  const configuredSum = MIX_SOURCES.reduce((a, s) => a + mixture.weights[s], 0);
  return {
    nCtx,
    totalTokens,
    totalRows,
    normalisation: { configuredSum, divisor, dropped: missing },
    sources,
  };
}

/**
 * The `--params-json` of spark_jobs.mix counting tokens: only what the count depends on (the
 * seed is not; the stage's fingerprint also covers its inputs, which the seed may change).
 */
export function mixCountParams(nCtx: number): Record<string, unknown> {
  return { mode: 'count', n_ctx: nCtx };
}

/**
 * The rows verification decodes: `n` positions spread evenly over `total` rows. The mix job
 * writes where these rows came from (provenance.json), so verification reads those documents
 * alone instead of searching a whole source.
 */
export function samplePositions(total: number, n: number): number[] {
  const count = Math.min(n, total);
  return Array.from({ length: count }, (_, i) => Math.floor(((i + 0.5) * total) / count));
}

/**
 * The `--params-json` of spark_jobs.mix for this plan (sources with target rows only);
 * `sampleRows` is `mixture.verifySampleRows`.
 */
export function mixJobParams(
  plan: MixPlan,
  seed: number,
  rowsPerFile: number,
  sampleRows: number,
): Record<string, unknown> {
  return {
    seed,
    n_ctx: plan.nCtx,
    rows_per_file: rowsPerFile,
    sample_positions: samplePositions(plan.totalRows, sampleRows),
    sources: Object.fromEntries(
      plan.sources
        .filter((s) => s.targetRows > 0)
        .map((s) => [
          s.source,
          {
            weight: s.weight,
            target_rows: s.targetRows,
            rows_per_epoch: s.rowsPerEpoch,
            paper_tokens: s.paper.tokens,
            paper_weight: s.paper.weight,
            paper_epochs: s.paper.epochs,
          },
        ]),
    ),
  };
}
