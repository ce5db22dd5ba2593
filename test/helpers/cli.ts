/** The `ccmix` command as a user runs it: a separate node process, its exit code and both streams. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../core/paths';

const CCMIX = path.join(REPO_ROOT, 'bin', 'ccmix.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `ccmix ARGS`, with `--address` when a Temporal server is given. */
export async function ccmix(args: string[], temporalAddress?: string): Promise<CliResult> {
  const argv = [CCMIX, ...args, ...(temporalAddress ? ['--address', temporalAddress] : [])];
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, argv);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
