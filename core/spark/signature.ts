/**
 * A Spark stage's fingerprint covers exactly what determines its output: the job, its code, its
 * parameters, and what its inputs contain. An input that is another stage's output is named by
 * that stage's content digest (or, without one, its fingerprint): never by timings, run ids or
 * the attempt folder it happened to be written to, so re-running an upstream stage that writes
 * the same rows leaves every downstream stage committed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readInventory } from '../download/inventory';
import { stageFingerprint } from '../fingerprint';
import { readCommitted } from '../stage';
import type { Storage } from '../storage';

export interface InputGroup {
  flag: string;
  paths: string[];
  /** `storage`: relative to the storage root (stage outputs, inventories); `cwd`: the worker's folder. */
  base: 'storage' | 'cwd';
  /** Passed as `NAME=PATH` (dedup and mix take one group per dataset). */
  dataset?: string;
}

export interface SparkCommit<M> {
  /** Storage-relative folder of the committed output (inside one attempt's folder). */
  output: string;
  outputDigest: string | null;
  metrics: M;
}

/** `spark/<stage>/<fingerprint>`, the committed stage a storage path lies in, if any. */
export function stageDirOf(relPath: string): string | null {
  const match = /^(spark\/[^/]+\/[^/]+)\//.exec(relPath);
  return match?.[1] ?? null;
}

const INVENTORY = /^raw\/[^/]+\/inventory[^/]*\.parquet$/;

async function storageSignature(storage: Storage, relPath: string): Promise<string> {
  const stageDir = stageDirOf(relPath);
  if (stageDir) {
    const commit = await readCommitted<SparkCommit<unknown>>(storage, stageDir);
    if (!commit) throw new Error(`input ${relPath}: its stage ${stageDir} is not committed`);
    const inside = relPath.slice(commit.output.length); // e.g. `/model` under the output
    return `stage:${commit.outputDigest ?? stageDir}${inside}`;
  }
  const listing = await storage.list(`${relPath}/`);
  if (listing.length > 0) {
    // A folder of immutable inputs (WET files keep their names for life): its listing.
    return `tree:${createHash('sha256').update(listing.join('\n')).digest('hex')}`;
  }
  if (await storage.exists(relPath)) {
    if (INVENTORY.test(relPath)) {
      // A download inventory lists the files with their sha256, so it stands for their content.
      // How many retries a file took is its history, not its content: a 503 storm during the
      // download must not re-run extraction.
      const rows = (await readInventory(storage, relPath)).map((r) => [
        r.key,
        r.rawPath,
        r.bytes,
        r.sha256,
        r.status,
        r.reason,
      ]);
      return `inventory:${createHash('sha256').update(JSON.stringify(rows)).digest('hex')}`;
    }
    return `file:${createHash('sha256')
      .update(await storage.read(relPath))
      .digest('hex')}`;
  }
  return `missing:${relPath}`; // the job itself says what is missing, as a bad input
}

/** A local folder or file outside the storage root (a reference corpus): names and sizes. */
function localSignature(local: string): string {
  const hash = createHash('sha256');
  if (!existsSync(local)) return `missing:${local}`;
  if (statSync(local).isFile()) return `file:${hash.update(readFileSync(local)).digest('hex')}`;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else hash.update(`${path.relative(local, full)}\0${statSync(full).size}\n`);
    }
  };
  walk(local);
  return `tree:${hash.digest('hex')}`;
}

export async function inputSignatures(storage: Storage, inputs: InputGroup[]): Promise<string[]> {
  const signatures: string[] = [];
  for (const group of inputs) {
    for (const p of group.paths) {
      const signature =
        group.base === 'storage'
          ? await storageSignature(storage, p)
          : /^s3a?:\/\//.test(p)
            ? `uri:${p}` // a corpus on S3 is named by its URI: keep it immutable
            : localSignature(path.resolve(p));
      signatures.push(`${group.flag}=${group.dataset ? `${group.dataset}=` : ''}${signature}`);
    }
  }
  return signatures;
}

export async function sparkStageDir(
  storage: Storage,
  stage: string,
  job: string,
  codeVersion: string,
  inputs: InputGroup[],
  params: Record<string, unknown>,
): Promise<string> {
  const fingerprint = stageFingerprint(stage, 2, {
    job,
    code: codeVersion,
    inputs: await inputSignatures(storage, inputs),
    params,
  });
  return `spark/${stage}/${fingerprint}`;
}
