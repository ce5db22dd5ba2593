/**
 * An operator's controls over a running buildMixture: pause and resume between activities, and
 * the download limits (files in flight across the run, the request-rate ceiling).
 *
 * The state lives in the `progress` query's view (`paused`, `limits`), so what the query shows is
 * what the run obeys. The parent waits before each next stage, download child and Spark job; each
 * download child gets its share of the state in its input and a signal at every change, and waits
 * before each next batch. A change applies from the next activity on, never to one in flight.
 */
import {
  condition,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  setHandler,
} from '@temporalio/workflow';

export interface DownloadLimits {
  /** Files in flight across the run, split evenly over the crawls downloading at once. */
  maxConcurrentDownloads: number;
  /** The run's request-rate ceiling (requests/s). */
  maxRequestsPerSecond: number;
}

export interface RunControlState {
  paused: boolean;
  limits: DownloadLimits;
}

/** What the run answers a control with: its state, and the files in flight that state gives. */
export interface RunControlReply extends RunControlState {
  /**
   * At most: `maxConcurrentDownloads` split over the crawls downloading at once, at least one
   * file each (more than asked when the crawls outnumber it, fewer when it does not divide
   * evenly). Absent in replies of workers older than it.
   */
  filesInFlight?: number;
}

/** Updates, so the caller gets the state the run now holds as its confirmation. */
export const pauseUpdate = defineUpdate<RunControlReply>('pause');
export const resumeUpdate = defineUpdate<RunControlReply>('resume');
export const setDownloadLimitsUpdate = defineUpdate<RunControlReply, [Partial<DownloadLimits>]>(
  'setDownloadLimits',
);

/** Each of `lanes` crawls downloading at once gets an equal share of `limit`, at least one file. */
export function filesPerCrawl(limit: number, lanes: number): number {
  return Math.max(1, Math.floor(limit / Math.max(1, lanes)));
}

/** One download child's share of the state. Sent whole with a sequence number, so a late signal never undoes a newer one. */
export interface DownloadControls {
  paused: boolean;
  parallelFiles: number;
  maxRequestsPerSecond: number;
  seq: number;
}

export const downloadControlsSignal = defineSignal<[DownloadControls]>('downloadControls');

/** The update validator: a rejected change is never written to the run's history. */
export function validateLimits(limits: unknown): asserts limits is Partial<DownloadLimits> {
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits))
    throw new TypeError('limits must be an object');
  const {
    maxConcurrentDownloads: files,
    maxRequestsPerSecond: rate,
    ...rest
  } = limits as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw new TypeError(
      `unknown limit(s) ${unknown.join(', ')}; known: maxConcurrentDownloads, maxRequestsPerSecond`,
    );
  if (files === undefined && rate === undefined)
    throw new TypeError('give maxConcurrentDownloads, maxRequestsPerSecond or both');
  if (files !== undefined && !(Number.isSafeInteger(files) && (files as number) > 0))
    throw new TypeError(`maxConcurrentDownloads must be a positive integer, got ${JSON.stringify(files)}`);
  if (rate !== undefined && !(typeof rate === 'number' && Number.isFinite(rate) && rate > 0))
    throw new TypeError(`maxRequestsPerSecond must be a positive number, got ${JSON.stringify(rate)}`);
}

/** Resolves at once unless the run is paused (no command, no timer: replay-safe). */
export function untilResumed(state: { paused: boolean }): Promise<void> {
  return condition(() => !state.paused);
}

/** Keeps `state` (the progress view) and the running download children in step with the updates. */
export class RunControls {
  private seq = 0;
  private lanes = 1;
  /** Running download children by workflow id. */
  private readonly children = new Set<string>();

  constructor(private readonly state: RunControlState) {
    setHandler(pauseUpdate, () => this.change({ paused: true }));
    setHandler(resumeUpdate, () => this.change({ paused: false }));
    setHandler(setDownloadLimitsUpdate, (limits) => this.change({ limits: { ...state.limits, ...limits } }), {
      validator: validateLimits,
    });
  }

  /** How many crawls download at once: each child's share of `maxConcurrentDownloads`. */
  splitDownloadsOver(lanes: number): void {
    this.lanes = Math.max(1, lanes);
  }

  forChild(): DownloadControls {
    const { paused, limits } = this.state;
    return {
      paused,
      parallelFiles: filesPerCrawl(limits.maxConcurrentDownloads, this.lanes),
      maxRequestsPerSecond: limits.maxRequestsPerSecond,
      seq: this.seq,
    };
  }

  /** A child has started with `sent` in its input; signals it if the state moved on meanwhile. */
  async childStarted(workflowId: string, sent: DownloadControls): Promise<void> {
    this.children.add(workflowId);
    if (sent.seq !== this.seq) await this.signal(workflowId);
  }

  childEnded(workflowId: string): void {
    this.children.delete(workflowId);
  }

  private async change(next: Partial<RunControlState>): Promise<RunControlReply> {
    const before = JSON.stringify(this.state);
    Object.assign(this.state, next);
    if (JSON.stringify(this.state) !== before) {
      this.seq += 1;
      await Promise.all([...this.children].map((id) => this.signal(id)));
    }
    const { paused, limits } = this.state;
    const filesInFlight = this.lanes * filesPerCrawl(limits.maxConcurrentDownloads, this.lanes);
    return { paused, limits: { ...limits }, filesInFlight };
  }

  private async signal(workflowId: string): Promise<void> {
    // A child that finished since it was counted as running has nothing left to obey.
    await getExternalWorkflowHandle(workflowId)
      .signal(downloadControlsSignal, this.forChild())
      .catch(() => undefined);
  }
}
