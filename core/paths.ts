/** Where the project's own installed tools and local state live. */
import { existsSync } from 'node:fs';
import path from 'node:path';

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'infra'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find the ccmix checkout above ${start}`);
  }
}

export const REPO_ROOT = findRepoRoot(__dirname);

/** The GPT-2 rank file setup writes (`infra/gpt2-ranks.ts`); spark_jobs reads it as `CCMIX_GPT2_RANKS`. */
export const GPT2_RANKS_FILE = path.join(REPO_ROOT, '.ccmix', 'tokenizer', 'gpt2.tiktoken');
export const GPT2_RANKS_ENV = 'CCMIX_GPT2_RANKS';

/** Local state (services, the demo crawl, runs); CCMIX_HOME moves it. */
export const CCMIX_HOME = path.resolve(process.env.CCMIX_HOME ?? path.join(REPO_ROOT, '.ccmix'));

export function venvBin(tool: string): string {
  return path.join(REPO_ROOT, '.venv', 'bin', tool);
}

export function sharedDataDir(): string {
  return path.resolve(process.env.CCMIX_SHARED_DATA ?? path.join(REPO_ROOT, '..', 'shared', 'data'));
}
