/** HTTP helpers of the mirror: safe key parsing, byte ranges, S3-style errors, throttled bodies. */
import { createReadStream } from 'node:fs';
import type * as http from 'node:http';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function s3Error(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export type ParsedKey = { key: string } | { error: string };

/** The object key named by a request target, or why it is refused. Never touches the disk. */
export function parseKey(target: string): ParsedKey {
  if (!target.startsWith('/')) return { error: 'request target must be an absolute path' };
  const rawPath = target.split('?', 1)[0] ?? '';
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { error: 'malformed percent-encoding' };
  }
  if (/[\0\\]/.test(decoded)) return { error: 'illegal character in path' };
  const key = decoded.slice(1);
  if (key.startsWith('/')) return { error: 'absolute paths are not allowed' };
  if (key !== '' && key.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    return { error: 'dot or empty path segments are not allowed' };
  }
  return { key };
}

/** `[start, end]` inclusive, 'unsatisfiable', or undefined to ignore the header and send it all. */
export function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | 'unsatisfiable' | undefined {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    return n === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return [start, m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)];
}

/** Writes one chunk and waits until it is flushed; false if the client went away. */
export function writeChunk(res: http.ServerResponse, chunk: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve(false);
    const onClose = (): void => resolve(false);
    res.once('close', onClose);
    res.write(chunk, (err) => {
      res.off('close', onClose);
      resolve(!err);
    });
  });
}

/** Streams `limit` bytes from `start`, optionally throttled. Reads no more than it sends. */
export async function sendBody(
  res: http.ServerResponse,
  file: string,
  start: number,
  limit: number,
  bytesPerSecond: number | undefined,
  onBytes: (n: number) => void,
): Promise<boolean> {
  if (limit <= 0) return true;
  const highWaterMark = bytesPerSecond
    ? Math.max(1, Math.min(65536, Math.floor(bytesPerSecond / 20)))
    : 65536;
  const stream = createReadStream(file, { start, end: start + limit - 1, highWaterMark });
  const t0 = Date.now();
  let sent = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (!(await writeChunk(res, chunk))) return false;
      sent += chunk.length;
      onBytes(chunk.length);
      if (bytesPerSecond) {
        const wait = t0 + (sent / bytesPerSecond) * 1000 - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }
  } finally {
    stream.destroy();
  }
  return true;
}

export function readBody(req: http.IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new Error(`body larger than ${max} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
