/** What identifies the Spark jobs' code: a hash of the `spark_jobs` package, and its archive. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { CCMIX_HOME, REPO_ROOT, venvBin } from '../paths';

export const JOBS_DIR = path.join(REPO_ROOT, 'spark-jobs');

/** A hash of the package's `*.py` names and bytes; `spark_jobs/server.py` computes the same. */
export function sparkJobsCodeVersion(): string {
  const dir = path.join(JOBS_DIR, 'spark_jobs');
  const hash = createHash('sha256');
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith('.py'))
    .sort()) {
    hash.update(name).update(readFileSync(path.join(dir, name)));
  }
  return hash.digest('hex').slice(0, 16);
}

/** spark_jobs as a zip for `--py-files` (cluster executors import it), built once per version. */
export function jobsArchive(codeVersion: string): string {
  const archive = path.join(CCMIX_HOME, 'spark', `spark_jobs-${codeVersion}.zip`);
  if (!existsSync(archive)) {
    mkdirSync(path.dirname(archive), { recursive: true });
    const temp = `${archive}.${process.pid}.tmp`;
    execFileSync(venvBin('python'), ['-m', 'zipfile', '-c', temp, path.join(JOBS_DIR, 'spark_jobs')]);
    renameSync(temp, archive);
  }
  return archive;
}
