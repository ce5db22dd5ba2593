/**
 * Spark jobs outlive a worker that dies: `spark-submit` runs in its own process group and
 * PySpark's daemon in yet another, and a job server keeps running what it was sent. Every job is
 * therefore tagged with its owner (the worker's pid and the pid's start time, which tells a
 * reused pid apart), and a starting worker kills what belongs to owners that are gone.
 */
import { readdirSync, readFileSync } from 'node:fs';

export const OWNER_ENV = 'CCMIX_SPARK_OWNER';
/** Names the attempt a process belongs to, so cancelling one job reaches all of its processes. */
export const ATTEMPT_ENV = 'CCMIX_SPARK_ATTEMPT';

export interface Owner {
  pid: number;
  /** Clock ticks since boot when the process started (/proc/<pid>/stat, field 22). */
  start: string;
}

/**
 * The fields of /proc/<pid>/stat from field 3 (state) on, or null when the process is gone:
 * [1] is the parent pid, [19] the start time in clock ticks since boot.
 */
export function procStatFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

const startTicks = (pid: number): string | null => procStatFields(pid)?.[19] ?? null;

export const thisOwner = (): Owner => ({ pid: process.pid, start: startTicks(process.pid) ?? '' });

export const ownerTag = (owner: Owner): string => `${owner.pid}:${owner.start}`;

export function ownerAlive(owner: Owner): boolean {
  return startTicks(owner.pid) === owner.start;
}

export function parseOwnerTag(tag: string): Owner | null {
  const match = /^(\d+):(\d*)$/.exec(tag);
  return match ? { pid: Number(match[1]), start: match[2] ?? '' } : null;
}

export interface TaggedProcess {
  pid: number;
  owner: Owner;
  attempt: string | null;
}

/** Processes on this machine tagged with an owner, read from /proc/<pid>/environ. */
export function taggedProcesses(): TaggedProcess[] {
  const found: TaggedProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
    } catch {
      continue; // gone, or not ours to read
    }
    const variables = environ.split('\0');
    const value = (name: string): string | null =>
      variables.find((v) => v.startsWith(`${name}=`))?.slice(name.length + 1) ?? null;
    const owner = parseOwnerTag(value(OWNER_ENV) ?? '');
    if (owner) found.push({ pid: Number(entry), owner, attempt: value(ATTEMPT_ENV) });
  }
  return found;
}

/** Kills every tagged process whose owner is gone; returns their pids. */
export function killOrphanedProcesses(): number[] {
  return killTagged((p) => !ownerAlive(p.owner));
}

/** Kills every process of one attempt, in whatever process group it runs. */
export function killAttempt(attempt: string): number[] {
  return killTagged((p) => p.attempt === attempt);
}

function killTagged(match: (p: TaggedProcess) => boolean): number[] {
  const killed: number[] = [];
  for (const tagged of taggedProcesses()) {
    const { pid } = tagged;
    if (!match(tagged) || pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // Already gone.
    }
  }
  return killed;
}
