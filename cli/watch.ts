/**
 * `ccmix status RUN --watch`: live progress bars per stage and per crawl (cli-progress draws and
 * redraws them), refreshed from the run's queries until it closes. When the crawls downloading
 * at once do not fit the terminal, they collapse into one summary bar. A run outlives its workers
 * and a restart of the Temporal server, so the watch does too: while nobody answers, it says so
 * once and keeps asking.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Client } from '@temporalio/client';
import {
  failureMessage,
  grpcCode,
  NoWorkerAnswerError,
  runStatus,
  UNAVAILABLE_CODE,
  type RunStatus,
} from './client';

export interface WatchRow {
  key: string;
  label: string;
  value: number;
  total: number;
  detail: string;
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The bars for one status, at most `maxRows` of them (the per-crawl ones collapse first). */
export function watchRows(status: RunStatus, maxRows: number): WatchRow[] {
  const { progress, downloads, sparkLive } = status;
  const head: WatchRow[] = [
    {
      key: 'discover',
      label: 'discover',
      value: progress.discover.done,
      total: progress.discover.total,
      detail: 'crawls',
    },
    {
      key: 'download',
      label: 'download',
      value: progress.download.done,
      total: progress.download.total,
      detail: `crawls${progress.paused ? '  PAUSED' : ''}`,
    },
  ];
  const active = downloads.filter((d) => d.files < d.filesTotal);
  const spark = Object.entries(progress.spark);
  const extracts = spark.filter(([stage]) => stage.startsWith('extract-'));
  const tail: WatchRow[] = [];
  if (extracts.length > 0) {
    const finished = extracts.filter(([, p]) => p.state !== 'running').length;
    tail.push({
      key: 'extract',
      label: 'extract',
      value: finished,
      total: progress.extractJobs ?? Math.max(extracts.length, progress.download.total),
      detail: `jobs, ${extracts.length - finished} running`,
    });
  }
  for (const [stage, p] of spark.filter(([name]) => !name.startsWith('extract-'))) {
    const live = sparkLive?.stage === stage ? sparkLive.spark : null;
    const rows = p.rowsIn === undefined ? '' : `${p.rowsKept}/${p.rowsIn} rows kept`;
    tail.push({
      key: `spark:${stage}`,
      label: stage,
      value: live ? live.tasksDone : p.state === 'running' ? 0 : 1,
      total: live ? Math.max(1, live.tasksTotal) : 1,
      detail: live ? `tasks, ${live.activeTasks} running` : `${p.state} ${rows}`.trim(),
    });
  }
  if (status.verifyLive) {
    tail.push({
      key: 'verify',
      label: 'verify',
      value: status.verifyLive.scanned,
      total: status.verifyLive.dataFiles,
      detail: 'data files scanned',
    });
  }
  const room = maxRows - head.length - tail.length;
  const perCrawl: WatchRow[] =
    active.length <= room
      ? active.map((d) => ({
          key: `crawl:${d.crawl}`,
          label: `  ${d.crawl}`,
          value: d.files,
          total: d.filesTotal,
          detail: `files ${mib(d.bytes)} retries ${d.retries} rate ${d.rate.toFixed(1)}/s`,
        }))
      : [
          {
            key: 'crawls',
            label: `  ${active.length} crawls`,
            value: active.reduce((n, d) => n + d.files, 0),
            total: active.reduce((n, d) => n + d.filesTotal, 0),
            detail: `files ${mib(active.reduce((n, d) => n + d.bytes, 0))} (too many to list)`,
          },
        ];
  return [...head, ...perCrawl, ...tail];
}

export interface WatchOptions {
  intervalMs?: number;
  /** Rows available (default: the terminal's height less a margin). */
  maxRows?: number;
  /** Where to draw instead of the terminal (stderr); frames are then written even if it is no TTY. */
  stream?: NodeJS.WritableStream;
}

/**
 * Why a status read failed for a while only, or undefined if it failed for good: an unknown run,
 * or a closed one that no worker is left to answer for.
 */
export function passingFailure(error: unknown): string | undefined {
  if (error instanceof NoWorkerAnswerError && error.runState === 'RUNNING') return error.message;
  if (grpcCode(error) === UNAVAILABLE_CODE) return `Temporal does not answer: ${failureMessage(error)}`;
  return undefined;
}

/** Draws until the run closes; returns its final status. */
export async function watchRun(
  client: Client,
  workflowId: string,
  options: WatchOptions = {},
): Promise<RunStatus> {
  const intervalMs = options.intervalMs ?? 1000;
  const multibar = new MultiBar(
    {
      format: '{label} [{bar}] {value}/{total} {detail}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      autopadding: true,
      ...(options.stream ? { stream: options.stream, noTTYOutput: true, notTTYSchedule: intervalMs } : {}),
    },
    Presets.legacy,
  );
  const bars = new Map<string, SingleBar>();
  const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, intervalMs));
  let unanswered = false;
  try {
    for (;;) {
      let status: RunStatus;
      try {
        status = await runStatus(client, workflowId);
      } catch (error) {
        const reason = passingFailure(error);
        if (reason === undefined) throw error;
        if (!unanswered) {
          multibar.log(`waiting: ${reason}\n`);
          multibar.update(); // now, not at the next redraw: there may be no bar yet to schedule one
        }
        unanswered = true;
        await pause();
        continue;
      }
      if (unanswered) multibar.log('answered again\n');
      unanswered = false;
      const rows = watchRows(status, options.maxRows ?? Math.max(8, (process.stdout.rows || 40) - 4));
      for (const [key, bar] of bars) {
        if (!rows.some((r) => r.key === key)) {
          multibar.remove(bar);
          bars.delete(key);
        }
      }
      for (const row of rows) {
        const payload = { label: row.label.padEnd(22), detail: row.detail };
        const bar = bars.get(row.key);
        if (bar) {
          bar.setTotal(Math.max(1, row.total));
          bar.update(row.value, payload);
        } else {
          bars.set(row.key, multibar.create(Math.max(1, row.total), row.value, payload));
        }
      }
      if (status.status !== 'RUNNING') return status;
      await pause();
    }
  } finally {
    multibar.stop();
  }
}
