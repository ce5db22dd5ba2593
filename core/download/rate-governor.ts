/**
 * One request-rate limit for the whole run. Every download in a worker takes a token from the
 * same bucket; a throttling answer (503, SlowDown, 429) halves the rate for all of them, and the
 * rate creeps back up while requests succeed (AIMD). Workers share the lowest recent rate through
 * a small file in the storage root, so a throttle seen by one worker slows every worker.
 */
import { randomBytes } from 'node:crypto';
import type { Storage } from '../storage';

export const SHARED_RATE_PATH = '_control/download-rate.json';
const SHARE_WINDOW_MS = 30_000;
const SYNC_EVERY_MS = 2_000;

export interface GovernorOptions {
  ceiling: number;
  floor?: number;
  /** Requests per second added per second of success. */
  recoveryPerSecond?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  shared?: Storage;
}

interface SharedRate {
  rate: number;
  updatedAt: number;
  /** Which governor wrote it: a governor never slows itself down with its own old record. */
  writer: string;
}

export class RateGovernor {
  private rate: number;
  private tokens = 1;
  private lastRefill: number;
  private lastSync = 0;
  private throttles = 0;
  private readonly id = randomBytes(8).toString('hex');
  private readonly floor: number;
  private readonly recovery: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private ceiling: number,
    private readonly opts: GovernorOptions,
  ) {
    this.rate = ceiling;
    this.floor = opts.floor ?? Math.min(0.2, ceiling);
    this.recovery = opts.recoveryPerSecond ?? Math.max(0.05, ceiling / 30);
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.lastRefill = this.now();
  }

  get currentRate(): number {
    return this.rate;
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
    this.tokens = Math.min(Math.max(1, this.rate), this.tokens + this.rate * elapsed);
  }

  /** Waits for permission to send one request. */
  async acquire(): Promise<void> {
    await this.syncShared();
    for (;;) {
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.sleep(Math.ceil(((1 - this.tokens) / this.rate) * 1000));
    }
  }

  /** The source pushed back: every request through this governor slows down. */
  async onThrottle(): Promise<void> {
    this.refill();
    this.throttles += 1;
    this.rate = Math.max(this.floor, this.rate / 2);
    this.tokens = Math.min(this.tokens, 0);
    await this.publishShared();
  }

  private async syncShared(): Promise<void> {
    const shared = this.opts.shared;
    if (!shared || this.now() - this.lastSync < SYNC_EVERY_MS) return;
    this.lastSync = this.now();
    try {
      const other = JSON.parse((await shared.read(SHARED_RATE_PATH)).toString('utf8')) as SharedRate;
      const recent = this.now() - other.updatedAt < SHARE_WINDOW_MS;
      if (other.writer !== this.id && recent && other.rate < this.rate) this.rate = other.rate;
    } catch {
      // The shared rate is advice; a missing or torn file must not stop downloads.
    }
  }

  private async publishShared(): Promise<void> {
    const shared = this.opts.shared;
    if (!shared) return;
    const record: SharedRate = { rate: this.rate, updatedAt: this.now(), writer: this.id };
    await shared.write(SHARED_RATE_PATH, JSON.stringify(record)).catch(() => undefined);
  }
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
