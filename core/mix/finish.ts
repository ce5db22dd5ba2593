/**
 * The mixture's last two steps over the storage root: verify the committed output with DuckDB,
 * then write manifest.json beside it. Both read what the mix stage committed; neither changes it.
 *
 * DuckDB reads local files only (S3 would need its httpfs extension, downloaded at run time), so on
 * S3 each file is streamed to a temporary local copy, hashed on the way, read, and deleted once
 * read: disk use is `FILES_AT_ONCE` files. Parquet footers come from ranged GETs.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { configFingerprint } from '../fingerprint';
import { openStorage, S3Storage, s3Client, type Storage } from '../storage';
import {
  buildManifest,
  describeLocalFile,
  manifestJson,
  type ManifestSource,
  type OutputFile,
} from './manifest';
import type { MixPlan } from './plan';
import {
  mixDataFiles,
  verifyMix,
  type CheckResult,
  type MixReader,
  type VerificationReport,
  type VerifyLive,
} from './verify';

export const MANIFEST_FILE = 'manifest.json';

export interface VerifyMixInput {
  storageRoot: string;
  /** Storage-relative folder the mix stage committed (Parquet under `data/`). */
  output: string;
  plan: MixPlan;
  /** Per source, the storage-relative documents folder it was mixed from. */
  documents: Record<string, string>;
  sampleRows: number;
  /** Data files read at once; `FILES_AT_ONCE` when unset (a bench compares). */
  filesAtOnce?: number;
  /** How often the scan's progress is saved; `VERIFY_PROGRESS_EVERY_MS` when unset (a test saves at every file). */
  progressEveryMs?: number;
}

const FOOTER_GUESS = 64 * 1024;
const COPY_ATTEMPTS = 3;

/** Rows of a Parquet file from its tail: one read, or two when the footer is longer than a guess. */
async function footerRows(name: string, tail: (bytes: number) => Promise<Buffer>): Promise<number> {
  let bytes = await tail(FOOTER_GUESS);
  if (bytes.length < 8 || bytes.toString('latin1', bytes.length - 4) !== 'PAR1') {
    throw new Error(`${name} is not a Parquet file (no PAR1 at its end)`);
  }
  const need = bytes.readUInt32LE(bytes.length - 8) + 8;
  if (need > bytes.length) bytes = await tail(need);
  // hyparquet is published as ES modules only; CommonJS code reaches it through import().
  const { parquetMetadata } = await import('hyparquet');
  return Number(parquetMetadata(bytes).num_rows);
}

/** Local files are read in place. */
function localReader(storage: Storage): MixReader {
  return {
    list: (prefix) => storage.list(prefix),
    readIfPresent: (file) => storage.readIfPresent(file),
    parquetRows: async (file) => {
      const handle = await open(storage.uri(file), 'r');
      try {
        const size = (await handle.stat()).size;
        return await footerRows(file, async (n) => {
          const buffer = Buffer.alloc(Math.min(n, size));
          await handle.read(buffer, 0, buffer.length, size - buffer.length);
          return buffer;
        });
      } finally {
        await handle.close();
      }
    },
    withLocalCopy: (file, use) => {
      const full = storage.uri(file);
      return use({ path: full, describe: () => describeLocalFile(full) });
    },
  };
}

function s3Location(storage: S3Storage, file: string): { Bucket: string; Key: string } {
  return { Bucket: storage.bucket, Key: storage.uri(file).slice(`s3://${storage.bucket}/`.length) };
}

/** Streams an object to `dest`, hashing it on the way; a short body is an error. */
async function download(
  client: S3Client,
  storage: S3Storage,
  file: string,
  dest: string,
): Promise<{ bytes: number; sha256: string }> {
  const out = await client.send(new GetObjectCommand(s3Location(storage, file)));
  if (!(out.Body instanceof Readable)) throw new Error(`no body streamed for ${storage.uri(file)}`);
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    out.Body,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(dest),
  );
  if (out.ContentLength !== undefined && bytes !== out.ContentLength) {
    throw new Error(`${storage.uri(file)}: read ${bytes} of ${out.ContentLength} bytes`);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Each S3 object is copied to a temporary folder of its own; a broken stream is fetched again. */
function s3Reader(storage: S3Storage, client: S3Client): MixReader {
  return {
    list: (prefix) => storage.list(prefix),
    readIfPresent: (file) => storage.readIfPresent(file),
    parquetRows: (file) =>
      footerRows(storage.uri(file), async (n) => {
        const out = await client.send(
          new GetObjectCommand({ ...s3Location(storage, file), Range: `bytes=-${n}` }),
        );
        if (!out.Body) throw new Error(`empty body for ${storage.uri(file)}`);
        return Buffer.from(await out.Body.transformToByteArray());
      }),
    withLocalCopy: async (file, use) => {
      const dir = await mkdtemp(path.join(tmpdir(), 'ccmix-verify-'));
      try {
        const dest = path.join(dir, path.basename(file));
        let described: { bytes: number; sha256: string };
        for (let attempt = 1; ; attempt++) {
          try {
            described = await download(client, storage, file, dest);
            break;
          } catch (error) {
            if (attempt >= COPY_ATTEMPTS) throw error;
          }
        }
        return await use({ path: dest, describe: () => Promise.resolve(described) });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The storage root and a reader over it; `close` releases the S3 client. */
function openReader(storageRoot: string): { storage: Storage; reader: MixReader; close: () => void } {
  const storage = openStorage(storageRoot);
  if (!(storage instanceof S3Storage)) {
    return { storage, reader: localReader(storage), close: () => undefined };
  }
  const client = s3Client();
  return { storage, reader: s3Reader(storage, client), close: () => client.destroy() };
}

/** Beside the manifest: the data files as verification hashed them (see `filesListedIn`). */
export const VERIFIED_FILES = 'verified-files.json';
/** Beside the data while it is verified: the files scanned so far, for a retry to resume from. */
export const VERIFY_PROGRESS = 'verify-progress.json';
/** A retry reads again at most this much of the scan, plus the files that were being read. */
export const VERIFY_PROGRESS_EVERY_MS = 30_000;

export interface VerifyWatch {
  /** After each file is read (data and documents): on S3 every file is a download. */
  onFile?: (file: string) => void;
  onDataFile?: (live: VerifyLive) => void;
}

/**
 * An activity can heartbeat from `watch`. The report's files are stored (`VERIFIED_FILES`) and
 * left out of it: it goes into the workflow's history, whatever the number of files. The scan's
 * progress (`VERIFY_PROGRESS`) is removed once the scan has read every file.
 */
export async function verifyMixOutput(
  input: VerifyMixInput,
  watch: VerifyWatch = {},
): Promise<VerificationReport> {
  const opened = openReader(input.storageRoot);
  const reader: MixReader = {
    ...opened.reader,
    withLocalCopy: async (file, use) => {
      const value = await opened.reader.withLocalCopy(file, use);
      watch.onFile?.(file);
      return value;
    },
  };
  const progressFile = `${input.output}/${VERIFY_PROGRESS}`;
  try {
    const { files, ...report } = await verifyMix({
      reader,
      output: input.output,
      nCtx: input.plan.nCtx,
      targets: input.plan.sources.map((s) => ({
        source: s.source,
        weight: s.weight,
        targetRows: s.targetRows,
      })),
      documents: input.documents,
      sampleRows: input.sampleRows,
      filesAtOnce: input.filesAtOnce,
      progress: {
        // Progress that does not parse (of no version this code wrote) is not used.
        load: async () => {
          const saved = await opened.storage.readIfPresent(progressFile);
          try {
            return saved ? (JSON.parse(saved.toString('utf8')) as unknown) : null;
          } catch {
            return null;
          }
        },
        save: (state) => opened.storage.write(progressFile, JSON.stringify(state)),
        everyMs: input.progressEveryMs ?? VERIFY_PROGRESS_EVERY_MS,
      },
      onDataFile: watch.onDataFile,
    });
    const filesListedIn = `${input.output}/${VERIFIED_FILES}`;
    await opened.storage.write(filesListedIn, JSON.stringify(files ?? []));
    await opened.storage.remove(progressFile);
    return { ...report, filesListedIn };
  } finally {
    opened.close();
  }
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

/**
 * The files as verification hashed them, if they are still exactly the files listed; a report
 * without them (verified before reports carried files) has the files hashed here.
 */
async function describeData(
  reader: MixReader,
  output: string,
  verified?: OutputFile[],
): Promise<OutputFile[]> {
  const listed = (await mixDataFiles(reader, output)).map((f) => f.slice(output.length + 1));
  if (verified) {
    const paths = verified.map((f) => f.path).sort();
    if (paths.join('\n') !== listed.join('\n')) {
      throw new Error(
        `${output}/data changed since it was verified: ${paths.length} files then, ${listed.length} now`,
      );
    }
    return verified;
  }
  const files: OutputFile[] = [];
  for (const rel of listed) {
    files.push({ path: rel, ...(await reader.withLocalCopy(`${output}/${rel}`, (copy) => copy.describe())) });
  }
  return files;
}

export async function writeMixManifest(input: ManifestStepInput): Promise<MixtureSummary> {
  const { storage, reader, close } = openReader(input.storageRoot);
  try {
    const { files: inline, filesListedIn } = input.verification;
    const verified = filesListedIn
      ? (JSON.parse((await storage.read(filesListedIn)).toString('utf8')) as OutputFile[])
      : inline;
    const files = await describeData(reader, input.output, verified);
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
  } finally {
    close();
  }
}
