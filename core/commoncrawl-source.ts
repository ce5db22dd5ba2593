/** Reads objects from Common Crawl (or a mirror of its layout) over HTTP or S3. */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { Config } from '../config/schema';
import { s3Client } from './storage';

export type Source = Config['source'];

/** A failure that retrying cannot fix (404, 403): activities turn it into a non-retryable error. */
export class PermanentSourceError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'PermanentSourceError';
  }
}

export function describeSource(source: Source): string {
  return source.kind === 'http' ? source.baseUrl : `s3://${source.bucket}/${source.prefix}`;
}

export function sourceUrl(source: Source, key: string): string {
  return source.kind === 'http'
    ? new URL(key, source.baseUrl).toString()
    : `s3://${source.bucket}/${source.prefix}${key}`;
}

export async function fetchObject(source: Source, key: string): Promise<Buffer> {
  if (source.kind === 'http') {
    const url = sourceUrl(source, key);
    const response = await fetch(url);
    if (response.status === 404 || response.status === 403) {
      throw new PermanentSourceError(`${response.status} for ${url}`, response.status);
    }
    if (!response.ok) throw new Error(`${response.status} ${response.statusText} for ${url}`);
    return Buffer.from(await response.arrayBuffer());
  }
  const client = s3Client({
    region: source.region,
    ...(source.endpoint ? { endpoint: source.endpoint } : {}),
  });
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: source.bucket, Key: source.prefix + key }));
    if (!out.Body) throw new Error(`empty body for s3://${source.bucket}/${source.prefix}${key}`);
    return Buffer.from(await out.Body.transformToByteArray());
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || status === 403) {
      throw new PermanentSourceError(`${status} for s3://${source.bucket}/${source.prefix}${key}`, status);
    }
    throw error;
  } finally {
    client.destroy();
  }
}
