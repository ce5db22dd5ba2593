/**
 * A worker thread of the download verifier (see verify-pool.ts): sha256 and a gzip decode of
 * files in flight, each fed by messages in the order its bytes arrived. Keeping this off the
 * main thread leaves that thread to the network and the disk: there, the decoder's callback for
 * every 256 KiB of text, its buffers' garbage and the hash held 16 downloads of 100 MiB below
 * one download's speed.
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { createGunzip, type Gunzip, type ZlibOptions } from 'node:zlib';

/** Main thread to worker. */
export type VerifyRequest =
  | { type: 'open'; id: number }
  | { type: 'data'; id: number; chunk: Uint8Array }
  | { type: 'end'; id: number }
  | { type: 'abandon'; id: number };

/**
 * Worker to main thread: `ack` once a chunk is decoded (for backpressure), `failed` as soon as
 * the bytes are known not to be gzip (nothing more need wait for the decoder), `done` at the end.
 */
export type VerifyReply =
  | { type: 'ack'; id: number; bytes: number }
  | { type: 'failed'; id: number }
  | { type: 'done'; id: number; sha256: string; gzipError: string | null };

/**
 * Decoder settings measured on loopback against `curl | sha256sum, gzip -t`: zlib's 16 KiB
 * default output chunks cost a threadpool round trip and a Buffer per 16 KiB of text.
 */
const GUNZIP_CHUNK_BYTES = 256 * 1024;
const GUNZIP_BUFFER_BYTES = 1024 * 1024;

interface Job {
  hash: Hash;
  gunzip: Gunzip;
  gzipError: string | null;
  ended: Promise<void>;
}

const port = parentPort;
if (!port) throw new Error('verify-worker.js runs as a worker thread');
const reply = (message: VerifyReply): void => port.postMessage(message);
const jobs = new Map<number, Job>();

function open(id: number): void {
  const gunzip = createGunzip({
    chunkSize: GUNZIP_CHUNK_BYTES,
    writableHighWaterMark: GUNZIP_BUFFER_BYTES,
  } as ZlibOptions);
  const job: Job = { hash: createHash('sha256'), gunzip, gzipError: null, ended: Promise.resolve() };
  gunzip.on('data', () => undefined);
  job.ended = new Promise((resolve) => {
    gunzip.once('end', resolve);
    gunzip.on('error', (error: Error) => {
      if (job.gzipError === null) reply({ type: 'failed', id });
      job.gzipError ??= error.message;
      resolve();
    });
  });
  jobs.set(id, job);
}

port.on('message', (message: VerifyRequest) => {
  const { id } = message;
  if (message.type === 'open') return open(id);
  const job = jobs.get(id);
  if (!job) return;
  switch (message.type) {
    case 'data': {
      const bytes = message.chunk.byteLength;
      job.hash.update(message.chunk);
      // Acknowledged once the decoder has taken the chunk, or at once if it already failed.
      if (job.gzipError !== null) reply({ type: 'ack', id, bytes });
      else job.gunzip.write(message.chunk, () => reply({ type: 'ack', id, bytes }));
      return;
    }
    case 'end':
      job.gunzip.end();
      void job.ended.then(() => {
        jobs.delete(id);
        reply({ type: 'done', id, sha256: job.hash.digest('hex'), gzipError: job.gzipError });
      });
      return;
    case 'abandon':
      jobs.delete(id);
      job.gunzip.destroy();
      return;
  }
});
