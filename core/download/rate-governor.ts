/**
 * One request-rate ceiling for the whole run, however many workers download for it.
 *
 * Every download in a worker takes a token from the same bucket. A throttling answer (503,
 * SlowDown, 429) halves the run's rate, and the rate creeps back up while requests succeed (AIMD).
 * Workers coordinate through small files in the storage root, one per governor
 * (`_control/download-rate/<id>.json`, so no two processes ever write the same file):
 * - each live governor keeps its record fresh while it sends requests; the governors with a
 *   record younger than LIVE_MS share the ceiling, each taking rate / live;
 * - a record also carries its writer's last throttle (the rate it fell to, and when); every
 *   other governor adopts the lowest throttle of the last SHARE_WINDOW_MS that it has not yet
 *   adopted, recovered by the time since, so a throttle seen by one slows all within one sync.
 *   Each throttle is adopted once: governors never hold each other down with old records.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Storage } from '../storage';

export const SHARED_RATE_DIR = '_control/download-rate';
/** A governor that has not refreshed its record for this long no longer takes a share. */
const LIVE_MS = 5_000;
/** How often a governor re-reads the others and refreshes its own record while in use. */
const SYNC_EVERY_MS = 1_000;
/** A throttle older than this is history: the rate has recovered from it or been cut since. */
const SHARE_WINDOW_MS = 30_000;
/** Records of governors gone this long are removed by the next governor that reads them. */
const FORGET_MS = 10 * 60_000;

export interface GovernorOptions {
  ceiling: number;
  floor?: number;
  /** Requests per second added per second of success. */
  recoveryPerSecond?: number;
  now?: () => number;
  /** Rejects when `signal` aborts (the default does). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  shared?: Storage;
}

export interface SharedRate {
  /** The run-wide rate this governor allows (requests/s, all workers together). */
  rate: number;
  /** Refreshed while the governor is in use: it is live, and takes a share. */
  updatedAt: number;
  writer: string;
  /** Its last throttle: the run-wide rate it fell to, and when. */
  throttle: { rate: number; at: number } | null;
}

export class RateGovernor {
  /** The run-wide rate: the ceiling, lowered by throttles (here or seen by another governor). */
  private rate: number;
  private tokens = 1;
  private lastRefill: number;
  private lastSync = -Infinity;
  private throttles = 0;
  private live = 1;
  private lastThrottle: SharedRate['throttle'] = null;
  /** Per other writer, the time of its last throttle already adopted. */
  private readonly adopted = new Map<string, number>();
  private readonly id = randomBytes(8).toString('hex');
  private readonly floor: number;
  private readonly recovery: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    private ceiling: number,
    private readonly opts: GovernorOptions,
  ) {
    this.rate = ceiling;
    this.floor = opts.floor ?? Math.min(0.2, ceiling);
    this.recovery = opts.recoveryPerSecond ?? Math.max(0.05, ceiling / 30);
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms, signal) => delay(ms, undefined, signal ? { signal } : {}));
    this.lastRefill = this.now();
  }

  /** The run-wide rate (all workers together). */
  get currentRate(): number {
    return this.rate;
  }

  /** What this governor may send: its share of the run-wide rate. */
  get shareRate(): number {
    return this.rate / this.live;
  }

  /** Governors sharing the ceiling at the last sync, this one included. */
  get liveGovernors(): number {
    return this.live;
  }

  get throttleCount(): number {
    return this.throttles;
  }

  setCeiling(ceiling: number): void {
    this.ceiling = ceiling;
    this.rate = Math.min(this.rate, ceiling);
  }

  private refill(): void {
    const now = this.now();
    const elapsed = (now - this.lastRefill) / 1000;
    this.lastRefill = now;
    this.rate = Math.min(this.ceiling, this.rate + this.recovery * elapsed);
    const share = this.shareRate;
    // The burst is one second of this governor's share (at least one request).
    this.tokens = Math.min(Math.max(1, share), this.tokens + share * elapsed);
  }

  /**
   * Waits for permission to send one request; rejects when `signal` aborts. At a throttled rate
   * many lanes queue here, each for many seconds: a cancelled batch must not wait its turn.
   */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      await this.syncShared();
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      // Never sleep past the next sync, so a new governor or a throttle elsewhere is heard.
      const wait = Math.ceil(((1 - this.tokens) / this.shareRate) * 1000);
      await this.sleep(this.opts.shared ? Math.min(wait, SYNC_EVERY_MS) : wait, signal).catch((error) => {
        signal?.throwIfAborted(); // the batch's own reason, not the timer's AbortError
        throw error;
      });
    }
  }

  /** The source pushed back: every request through this governor, and every other, slows down. */
  async onThrottle(): Promise<void> {
    this.refill();
    this.throttles += 1;
    this.rate = Math.max(this.floor, this.rate / 2);
    this.tokens = Math.min(this.tokens, 0);
    this.lastThrottle = { rate: this.rate, at: this.now() };
    await this.publishShared();
  }

  /** Reads the other live governors (their count and lowest rate) and refreshes our own record. */
  private async syncShared(): Promise<void> {
    const shared = this.opts.shared;
    if (!shared || this.now() - this.lastSync < SYNC_EVERY_MS) return;
    this.lastSync = this.now();
    // Register (or refresh) first, so a governor starting at the same moment counts this one.
    await this.publishShared();
    try {
      const now = this.now();
      const others = (await readRecords(shared)).filter((r) => r.writer !== this.id);
      this.live = 1 + others.filter((r) => now - r.updatedAt < LIVE_MS).length;
      let lowest = Infinity;
      for (const { writer, throttle } of others) {
        if (!throttle || now - throttle.at >= SHARE_WINDOW_MS) continue;
        if (throttle.at <= (this.adopted.get(writer) ?? -Infinity)) continue;
        this.adopted.set(writer, throttle.at);
        // Where that governor's rate is now, had it only recovered since.
        lowest = Math.min(lowest, throttle.rate + (this.recovery * (now - throttle.at)) / 1000);
      }
      this.refill(); // recovery up to now first, so the adopted rate is not recovered twice
      if (lowest < this.rate) {
        this.rate = Math.max(this.floor, lowest);
        this.tokens = Math.min(this.tokens, Math.max(1, this.shareRate));
      }
      for (const r of others) {
        if (now - r.updatedAt > FORGET_MS) await shared.remove(recordPath(r.writer)).catch(() => undefined);
      }
    } catch {
      // The shared state is advice; an unreadable one must not stop downloads.
    }
  }

  private async publishShared(): Promise<void> {
    const shared = this.opts.shared;
    if (!shared) return;
    const record: SharedRate = {
      rate: this.rate,
      updatedAt: this.now(),
      writer: this.id,
      throttle: this.lastThrottle,
    };
    await shared.write(recordPath(this.id), JSON.stringify(record)).catch(() => undefined);
  }
}

const recordPath = (writer: string): string => `${SHARED_RATE_DIR}/${writer}.json`;

/** Every governor's record (a torn or foreign file is skipped). */
export async function readRecords(shared: Storage): Promise<SharedRate[]> {
  const records: SharedRate[] = [];
  for (const file of await shared.list(`${SHARED_RATE_DIR}/`)) {
    if (!file.endsWith('.json')) continue;
    try {
      const record = JSON.parse((await shared.read(file)).toString('utf8')) as SharedRate;
      if (typeof record.rate === 'number' && typeof record.writer === 'string') records.push(record);
    } catch {
      // Being written right now, or removed: the next sync reads it.
    }
  }
  return records;
}

const governors = new Map<string, RateGovernor>();

/** One governor per run (keyed by storage root) in this worker process. */
export function governorFor(runKey: string, ceiling: number, shared?: Storage): RateGovernor {
  let governor = governors.get(runKey);
  if (!governor) {
    governor = new RateGovernor(ceiling, shared ? { ceiling, shared } : { ceiling });
    governors.set(runKey, governor);
  } else {
    governor.setCeiling(ceiling);
  }
  return governor;
}
