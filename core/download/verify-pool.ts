/**
 * sha256 and gzip verification of downloads in worker threads (verify-worker.ts), so that the
 * main thread only moves bytes from the network to disk. Each file in flight is one job on one
 * worker; its chunks are transferred, not copied, when the caller hands them over.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { VerifyReply, VerifyRequest } from './verify-worker';

/** Bytes of a file sent to its worker and not yet decoded, before `update` waits. */
const MAX_AHEAD_BYTES = 1024 * 1024;
/** The hash and the decoder's callbacks are light: a few threads serve 16 files in flight. */
const POOL_SIZE = Math.max(1, Math.min(availableParallelism(), 4));
const WORKER_SCRIPT = path.join(__dirname, 'verify-worker.js');

export interface Verdict {
  sha256: string;
  gzipError: string | null;
}

interface Job {
  ahead: number;
  failed: boolean;
  error: Error | null;
  waiter: { resolve: () => void; reject: (error: Error) => void } | null;
  settle: { resolve: (v: Verdict) => void; reject: (error: Error) => void };
}

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, Job>;
}

const pool: (PoolWorker | undefined)[] = new Array<PoolWorker | undefined>(POOL_SIZE);
let nextId = 1;

/** Idle workers must not keep the process alive; busy ones must, or a wait could end it. */
function refresh(entry: PoolWorker): void {
  if (entry.jobs.size > 0) entry.worker.ref();
  else entry.worker.unref();
}

function spawn(slot: number): PoolWorker {
  const entry: PoolWorker = { worker: new Worker(WORKER_SCRIPT), jobs: new Map() };
  const die = (error: Error): void => {
    if (pool[slot] === entry) pool[slot] = undefined;
    for (const job of entry.jobs.values()) {
      job.error = error;
      job.waiter?.reject(error);
      job.waiter = null;
      job.settle.reject(error);
    }
    entry.jobs.clear();
  };
  entry.worker.on('message', (reply: VerifyReply) => {
    const job = entry.jobs.get(reply.id);
    if (!job) return;
    if (reply.type === 'done') {
      entry.jobs.delete(reply.id);
      refresh(entry);
      job.settle.resolve({ sha256: reply.sha256, gzipError: reply.gzipError });
      return;
    }
    if (reply.type === 'failed') job.failed = true;
    else job.ahead -= reply.bytes;
    if (job.waiter && (job.failed || job.ahead <= MAX_AHEAD_BYTES)) {
      job.waiter.resolve();
      job.waiter = null;
    }
  });
  entry.worker.on('error', (error) => die(new Error(`download verifier thread failed: ${error.message}`)));
  entry.worker.on('exit', (code) => die(new Error(`download verifier thread exited with code ${code}`)));
  entry.worker.unref();
  return entry;
}

/** The worker with the fewest files in flight (started on first use). */
function pick(): PoolWorker {
  let best: PoolWorker | null = null;
  for (let slot = 0; slot < POOL_SIZE; slot++) {
    const entry = pool[slot] ?? (pool[slot] = spawn(slot));
    if (entry.jobs.size === 0) return entry;
    if (!best || entry.jobs.size < best.jobs.size) best = entry;
  }
  return best as PoolWorker;
}

/** Whether the chunk's memory is its own, so transferring it detaches nothing else. */
function ownsItsBuffer(chunk: Uint8Array): boolean {
  return (
    chunk.buffer instanceof ArrayBuffer &&
    chunk.byteOffset === 0 &&
    chunk.byteLength === chunk.buffer.byteLength
  );
}

/** One file's sha256 and gzip decode, fed in order, computed in a worker thread. */
export class PooledVerifier {
  private readonly entry = pick();
  private readonly id = nextId++;
  private readonly job: Job;
  private readonly result: Promise<Verdict>;

  constructor() {
    let settle!: Job['settle'];
    this.result = new Promise<Verdict>((resolve, reject) => (settle = { resolve, reject }));
    // An abandoned file's verdict is never awaited: its failure must not go unhandled.
    this.result.catch(() => undefined);
    this.job = { ahead: 0, failed: false, error: null, waiter: null, settle };
    this.entry.jobs.set(this.id, this.job);
    refresh(this.entry);
    this.post({ type: 'open', id: this.id });
  }

  private post(message: VerifyRequest, transfer: ArrayBuffer[] = []): void {
    this.entry.worker.postMessage(message, transfer);
  }

  /**
   * Sends the next bytes. With `transfer`, the caller gives the chunk up (it reads as empty
   * afterwards) and a copy is saved when its memory is its own. Waits while the worker is more
   * than MAX_AHEAD_BYTES behind, so a fast link cannot pile a whole file up in memory.
   */
  async update(chunk: Uint8Array, transfer = false): Promise<void> {
    if (this.job.error) throw this.job.error;
    const own = transfer && ownsItsBuffer(chunk) ? chunk : new Uint8Array(chunk);
    this.job.ahead += own.byteLength;
    this.post({ type: 'data', id: this.id, chunk: own }, [own.buffer as ArrayBuffer]);
    if (this.job.failed || this.job.ahead <= MAX_AHEAD_BYTES) return;
    await new Promise<void>((resolve, reject) => (this.job.waiter = { resolve, reject }));
  }

  finish(): Promise<Verdict> {
    if (!this.job.error) this.post({ type: 'end', id: this.id });
    return this.result;
  }

  /** For a body that broke off: the verdict would be meaningless. */
  abandon(): void {
    if (!this.entry.jobs.delete(this.id)) return;
    refresh(this.entry);
    this.post({ type: 'abandon', id: this.id });
    this.job.waiter?.resolve();
    this.job.waiter = null;
  }
}
