/**
 * One interface over a local folder and s3://bucket/prefix, so every stage runs unchanged on
 * both. Writes are atomic: a reader sees a whole object or none.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { CCMIX_HOME } from './paths';
import { sha256Hex } from './fingerprint';

/** Read size of `readStream` on a local disk. */
const STREAM_CHUNK_BYTES = 1024 * 1024;

export interface Storage {
  /** The root as the user wrote it (a folder or s3:// URI). */
  readonly root: string;
  read(relPath: string): Promise<Buffer>;
  /** The bytes at relPath in chunks, never held whole: for files of WET size (~160 MB). */
  readStream(relPath: string): AsyncIterable<Uint8Array>;
  /** `read`, or null when nothing is at relPath: one request where `exists` then `read` take two. */
  readIfPresent(relPath: string): Promise<Buffer | null>;
  /** Whole-object write; atomic (temp file + rename locally, single PUT on S3). */
  write(relPath: string, data: Uint8Array | string): Promise<void>;
  /**
   * Whole-object write only if nothing is at relPath yet; false when something is. Of writers
   * racing on one path exactly one succeeds (a hard link locally, `If-None-Match: *` on S3).
   */
  writeIfAbsent(relPath: string, data: Uint8Array | string): Promise<boolean>;
  exists(relPath: string): Promise<boolean>;
  /** Relative paths under the prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  remove(relPath: string): Promise<void>;
  /** Removes everything under the folder `relPath` (S3: every key with that prefix). */
  removeTree(relPath: string): Promise<void>;
  /**
   * Moves a whole local file to relPath: a rename when the root is local (the file must be on the
   * same filesystem), a multipart upload when it is S3. The local file is gone afterwards.
   */
  publishFile(localPath: string, relPath: string): Promise<void>;
  /** A local folder for partial files that survives worker restarts, for this root. */
  stagingDir(): string;
  /** A location for tools that need one (local absolute path or s3:// URI). */
  uri(relPath: string): string;
}

/** A path that could write outside the storage root; retrying cannot make it safe. */
export class UnsafePathError extends Error {
  constructor(message: string) {
    super(`unsafe storage path: ${message}`);
    this.name = 'UnsafePathError';
  }
}

/** Rejects anything that could escape the root: `..`, absolute paths, empty segments. */
export function safeRelativePath(relPath: string): string {
  const parts = relPath.split('/');
  if (relPath.startsWith('/') || parts.some((p) => p === '..' || p === '.' || p === '' || p.includes('\\'))) {
    throw new UnsafePathError(JSON.stringify(relPath));
  }
  return relPath;
}

export class LocalStorage implements Storage {
  constructor(readonly root: string) {}

  async removeTree(relPath: string): Promise<void> {
    await rm(this.uri(relPath), { recursive: true, force: true });
  }

  uri(relPath: string): string {
    return path.resolve(this.root, safeRelativePath(relPath));
  }

  async read(relPath: string): Promise<Buffer> {
    return readFile(this.uri(relPath));
  }

  readStream(relPath: string): AsyncIterable<Uint8Array> {
    return createReadStream(this.uri(relPath), { highWaterMark: STREAM_CHUNK_BYTES });
  }

  async readIfPresent(relPath: string): Promise<Buffer | null> {
    return readFile(this.uri(relPath)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
  }

  /** Writes data to a temporary file beside relPath, then `place`s it there; the temp file never stays. */
  private async placeWhole<T>(
    relPath: string,
    data: Uint8Array | string,
    place: (temp: string, target: string) => Promise<T>,
  ): Promise<T> {
    const target = this.uri(relPath);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await writeFile(temp, data);
      return await place(temp, target);
    } finally {
      await rm(temp, { force: true });
    }
  }

  async write(relPath: string, data: Uint8Array | string): Promise<void> {
    await this.placeWhole(relPath, data, (temp, target) => rename(temp, target));
  }

  async writeIfAbsent(relPath: string, data: Uint8Array | string): Promise<boolean> {
    // link, unlike rename, fails when the target exists: the whole file appears, or nothing.
    return this.placeWhole(relPath, data, (temp, target) =>
      link(temp, target).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'EEXIST') return false;
          throw error;
        },
      ),
    );
  }

  async exists(relPath: string): Promise<boolean> {
    return stat(this.uri(relPath)).then(
      () => true,
      () => false,
    );
  }

  async list(prefix: string): Promise<string[]> {
    const base = path.resolve(this.root);
    const start = prefix === '' ? base : this.uri(prefix.replace(/\/$/, ''));
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else found.push(path.relative(base, full).split(path.sep).join('/'));
      }
    };
    await walk(start);
    return found.sort();
  }

  async remove(relPath: string): Promise<void> {
    await rm(this.uri(relPath), { force: true });
  }

  async publishFile(localPath: string, relPath: string): Promise<void> {
    const target = this.uri(relPath);
    await mkdir(path.dirname(target), { recursive: true });
    await rename(localPath, target);
  }

  stagingDir(): string {
    // Inside the root, so publishing is a rename; `_` keeps Spark and listings of outputs away.
    return path.resolve(this.root, '_staging');
  }
}

export class S3Storage implements Storage {
  readonly bucket: string;
  readonly prefix: string;

  constructor(
    readonly root: string,
    private readonly client: S3Client,
  ) {
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(root);
    if (!match?.[1]) throw new Error(`not an s3:// URI: ${root}`);
    this.bucket = match[1];
    this.prefix = (match[2] ?? '').replace(/\/?$/, match[2] ? '/' : '');
  }

  private key(relPath: string): string {
    return this.prefix + safeRelativePath(relPath);
  }

  uri(relPath: string): string {
    return `s3://${this.bucket}/${this.key(relPath)}`;
  }

  async read(relPath: string): Promise<Buffer> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(relPath) }));
    if (!out.Body) throw new Error(`empty body for ${this.uri(relPath)}`);
    return Buffer.from(await out.Body.transformToByteArray());
  }

  async *readStream(relPath: string): AsyncIterable<Uint8Array> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(relPath) }));
    if (!out.Body) throw new Error(`empty body for ${this.uri(relPath)}`);
    // In Node the body is a Readable: its chunks, as they arrive.
    yield* out.Body as AsyncIterable<Uint8Array>;
  }

  async readIfPresent(relPath: string): Promise<Buffer | null> {
    try {
      return await this.read(relPath);
    } catch (error) {
      if (error instanceof NoSuchKey) return null;
      throw error;
    }
  }

  async write(relPath: string, data: Uint8Array | string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(relPath), Body: data }));
  }

  async writeIfAbsent(relPath: string, data: Uint8Array | string): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.key(relPath), Body: data, IfNoneMatch: '*' }),
      );
      return true;
    } catch (error) {
      // 412: the key exists. 409: another conditional write to it is in flight and will win.
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || status === 409) return false;
      throw error;
    }
  }

  async exists(relPath: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(relPath) }));
      return true;
    } catch (error) {
      if (error instanceof NotFound || error instanceof NoSuchKey) return false;
      throw error;
    }
  }

  /** Files under `prefix`, sorted: S3A's directory markers (keys ending in `/`) are no files. */
  async list(prefix: string): Promise<string[]> {
    return (await this.keysUnder(prefix)).filter((key) => !key.endsWith('/'));
  }

  /** Every key under `prefix` (relative to the root), directory markers included. */
  private async keysUnder(prefix: string): Promise<string[]> {
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          ContinuationToken: token,
        }),
      );
      for (const item of page.Contents ?? []) if (item.Key) found.push(item.Key.slice(this.prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found.sort();
  }

  async remove(relPath: string): Promise<void> {
    await this.deleteKey(this.key(relPath));
  }

  async removeTree(relPath: string): Promise<void> {
    // The tree's markers too, which no file path names: Spark (S3A) leaves them in its outputs.
    for (const key of await this.keysUnder(`${safeRelativePath(relPath)}/`))
      await this.deleteKey(this.prefix + key);
  }

  private async deleteKey(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async publishFile(localPath: string, relPath: string): Promise<void> {
    await multipartUpload(this.client, this.bucket, this.key(relPath), localPath);
    await rm(localPath, { force: true });
  }

  stagingDir(): string {
    return path.join(CCMIX_HOME, 'staging', sha256Hex(this.root).slice(0, 16));
  }
}

export const MULTIPART_PART_BYTES = 8 * 2 ** 20;

/** Uploads in parts of MULTIPART_PART_BYTES; the object appears only when the upload completes. */
export async function multipartUpload(
  client: S3Client,
  bucket: string,
  key: string,
  localPath: string,
): Promise<number> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  if (!UploadId) throw new Error(`no upload id for s3://${bucket}/${key}`);
  try {
    const size = (await stat(localPath)).size;
    // An empty file is still one (empty) part: S3 completes no upload without parts.
    const partCount = Math.max(1, Math.ceil(size / MULTIPART_PART_BYTES));
    const parts: { ETag: string; PartNumber: number }[] = [];
    const file = await open(localPath, 'r');
    try {
      for (let PartNumber = 1; PartNumber <= partCount; PartNumber++) {
        const offset = (PartNumber - 1) * MULTIPART_PART_BYTES;
        const body = Buffer.alloc(Math.min(MULTIPART_PART_BYTES, size - offset));
        await file.read(body, 0, body.length, offset);
        const out = await client.send(
          new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber, Body: body }),
        );
        parts.push({ ETag: out.ETag ?? '', PartNumber });
      }
    } finally {
      await file.close();
    }
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    return parts.length;
  } catch (error) {
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }))
      .catch(() => undefined);
    throw error;
  }
}

/**
 * Credentials are never passed in: the client uses the standard AWS chain (environment, shared
 * files, instance roles). `AWS_ENDPOINT_URL_S3` points it at an emulator.
 */
export function s3Client(opts: { region?: string; endpoint?: string } = {}): S3Client {
  const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return new S3Client({
    region: opts.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
  });
}

/** The URI Spark (Hadoop's FileSystem) uses for a storage path: `s3://` becomes `s3a://`. */
export function sparkUri(storage: Storage, relPath: string): string {
  return storage.uri(relPath).replace(/^s3:\/\//, 's3a://');
}

export function openStorage(root: string): Storage {
  return root.startsWith('s3://') ? new S3Storage(root, s3Client()) : new LocalStorage(root);
}
