/** What identifies the Spark jobs' code: a hash of the `spark_jobs` package, and its archive. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { CCMIX_HOME, REPO_ROOT, venvBin } from '../paths';

export const JOBS_DIR = path.join(REPO_ROOT, 'spark-jobs');

/** ccmix's Java classes, which the jobs call in their JVM (built into .ccmix/ccmix-spark.jar). */
const JAVA_DIR = path.join(REPO_ROOT, 'infra', 'spark', 'java', 'ccmix', 'spark');

/**
 * A hash of the names and bytes of the package's `*.py`, then of the Java sources (not of the
 * jar, whose bytes change with every build); `spark_jobs/server.py` computes the same.
 */
export function sparkJobsCodeVersion(): string {
  const hash = createHash('sha256');
  const sources: [string, string][] = [
    [path.join(JOBS_DIR, 'spark_jobs'), '.py'],
    [JAVA_DIR, '.java'],
  ];
  for (const [dir, suffix] of sources) {
    for (const name of readdirSync(dir)
      .filter((n) => n.endsWith(suffix))
      .sort()) {
      hash.update(name).update(readFileSync(path.join(dir, name)));
    }
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
