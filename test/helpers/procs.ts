/** What tests read of a local process from /proc: its command line and its parent. */
import { readFileSync } from 'node:fs';
import { procStatFields } from '../../core/spark/orphans';

/** The command line, arguments joined by spaces; empty when the process is gone. */
export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** The parent pid; 0 when the process is gone. */
export const parentOf = (pid: number): number => Number(procStatFields(pid)?.[1] ?? 0);
