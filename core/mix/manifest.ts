/**
 * manifest.json beside the mixture: what went in (config, stage fingerprints), what came out per
 * source (target and achieved weight, rows, tokens, epochs, with the paper's Table 2.2 beside
 * them), the files with their sha256, and the verification results.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { MixPlan, PaperFigures } from './plan';
import type { CheckResult, VerificationReport } from './verify';

export const MANIFEST_VERSION = 1;

export interface OutputFile {
  /** Relative to the output folder, e.g. data/train-00000-of-00003.parquet. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface ManifestSource {
  source: string;
  targetWeight: number;
  achievedWeight: number | null;
  achievedPrefixWeight: number | null;
  targetRows: number;
  rows: number | null;
  tokens: number | null;
  tokensPerEpoch: number | null;
  rowsPerEpoch: number;
  epochs: number;
  paper: PaperFigures;
  /** The paper's arithmetic on its own table: printed weight × 300B / printed tokens. */
  paperEpochsFromItsOwnTable: number;
}

export interface Manifest {
  version: number;
  config: unknown;
  fingerprints: { config: string; stages: Record<string, string> };
  nCtx: number;
  totalTokens: number;
  rows: number;
  normalisation: MixPlan['normalisation'];
  sources: ManifestSource[];
  files: OutputFile[];
  verification: { ok: boolean; checks: CheckResult[] };
}

export interface ManifestInput {
  config: unknown;
  configFingerprint: string;
  stageFingerprints: Record<string, string>;
  plan: MixPlan;
  verification: VerificationReport;
  files: OutputFile[];
}

export function buildManifest(input: ManifestInput): Manifest {
  const { plan, verification } = input;
  const sources = plan.sources.map((s): ManifestSource => {
    const achieved = verification.sources[s.source];
    return {
      source: s.source,
      targetWeight: s.weight,
      achievedWeight: achieved?.weight ?? null,
      achievedPrefixWeight: achieved?.prefixWeight ?? null,
      targetRows: s.targetRows,
      rows: achieved?.rows ?? null,
      tokens: achieved ? achieved.rows * plan.nCtx : null,
      tokensPerEpoch: s.tokensPerEpoch,
      rowsPerEpoch: s.rowsPerEpoch,
      epochs: achieved && s.rowsPerEpoch > 0 ? achieved.rows / s.rowsPerEpoch : s.epochs,
      paper: s.paper,
      paperEpochsFromItsOwnTable: (s.paper.weight * 300e9) / s.paper.tokens,
    };
  });
  return {
    version: MANIFEST_VERSION,
    config: input.config,
    fingerprints: { config: input.configFingerprint, stages: { ...input.stageFingerprints } },
    nCtx: plan.nCtx,
    totalTokens: plan.totalTokens,
    rows: verification.rows,
    normalisation: plan.normalisation,
    sources,
    files: [...input.files].sort((a, b) => a.path.localeCompare(b.path)),
    verification: { ok: verification.ok, checks: verification.checks },
  };
}

/** Size and sha256 of one local file, read as a stream. */
export async function describeLocalFile(full: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(full)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** sha256 and size of files under a local output folder (paths relative to it). */
export async function describeLocalFiles(dir: string, relPaths: readonly string[]): Promise<OutputFile[]> {
  const files: OutputFile[] = [];
  for (const rel of relPaths) files.push({ path: rel, ...(await describeLocalFile(path.join(dir, rel))) });
  return files;
}

export function manifestJson(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}
