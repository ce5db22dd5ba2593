/**
 * The mixture's last two steps over the storage root: verify the committed output with DuckDB,
 * then write manifest.json beside it. Both read what the mix stage committed; neither changes it.
 */
import { configFingerprint } from '../fingerprint';
import { LocalStorage, openStorage, type Storage } from '../storage';
import { buildManifest, describeLocalFiles, manifestJson, type ManifestSource } from './manifest';
import type { MixPlan } from './plan';
import { verifyMix, type CheckResult, type VerificationReport } from './verify';

export const MANIFEST_FILE = 'manifest.json';

/** The output cannot be verified where it is stored; retrying does not change that. */
export class VerificationUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VerificationUnavailableError';
  }
}

export interface VerifyMixInput {
  storageRoot: string;
  /** Storage-relative folder the mix stage committed (Parquet under `data/`). */
  output: string;
  plan: MixPlan;
  /** Per source, the storage-relative documents folder it was mixed from. */
  documents: Record<string, string>;
  sampleRows: number;
}

function localRoot(storageRoot: string): LocalStorage {
  const storage = openStorage(storageRoot);
  if (!(storage instanceof LocalStorage)) {
    // DuckDB reads S3 only through its httpfs extension, which it downloads at run time.
    throw new VerificationUnavailableError(
      `verifying a mixture on ${storageRoot} is not supported yet: DuckDB would need its httpfs ` +
        `extension, which ccmix does not install; use a local storage root`,
    );
  }
  return storage;
}

export async function verifyMixOutput(input: VerifyMixInput): Promise<VerificationReport> {
  const storage = localRoot(input.storageRoot);
  return verifyMix({
    dir: storage.uri(input.output),
    nCtx: input.plan.nCtx,
    targets: input.plan.sources.map((s) => ({
      source: s.source,
      weight: s.weight,
      targetRows: s.targetRows,
    })),
    documents: Object.fromEntries(Object.entries(input.documents).map(([s, rel]) => [s, storage.uri(rel)])),
    sampleRows: input.sampleRows,
  });
}

export interface ManifestStepInput {
  storageRoot: string;
  output: string;
  /** The validated config (it holds no secret: credentials come from the environment). */
  config: unknown;
  /** Stage name -> the fingerprint its committed output is named by. */
  stageFingerprints: Record<string, string>;
  plan: MixPlan;
  verification: VerificationReport;
}

/** What the workflow keeps of the manifest: small enough for its history. */
export interface MixtureSummary {
  /** Where the Parquet files are (`<output>/data`), and the manifest beside them. */
  data: string;
  manifest: string;
  rows: number;
  tokens: number;
  files: number;
  sources: ManifestSource[];
  checks: CheckResult[];
}

async function dataFiles(storage: Storage, output: string): Promise<string[]> {
  const prefix = `${output}/`;
  return (await storage.list(`${output}/data/`))
    .filter((p) => p.endsWith('.parquet'))
    .map((p) => p.slice(prefix.length));
}

export async function writeMixManifest(input: ManifestStepInput): Promise<MixtureSummary> {
  const storage = localRoot(input.storageRoot);
  const files = await describeLocalFiles(storage.uri(input.output), await dataFiles(storage, input.output));
  const manifest = buildManifest({
    config: input.config,
    configFingerprint: configFingerprint(input.config),
    stageFingerprints: input.stageFingerprints,
    plan: input.plan,
    verification: input.verification,
    files,
  });
  const manifestPath = `${input.output}/${MANIFEST_FILE}`;
  await storage.write(manifestPath, manifestJson(manifest));
  return {
    data: storage.uri(`${input.output}/data`),
    manifest: storage.uri(manifestPath),
    rows: manifest.rows,
    tokens: manifest.rows * manifest.nCtx,
    files: files.length,
    sources: manifest.sources,
    checks: manifest.verification.checks,
  };
}
