/** Where Common Crawl objects come from: an HTTP base (or a mirror of its layout) or an S3 bucket. */
import type { S3Client } from '@aws-sdk/client-s3';
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

/** A client for an S3 source (its own region and endpoint); none for HTTP. The caller destroys it. */
export function sourceS3Client(source: Source): S3Client | undefined {
  return source.kind === 's3'
    ? s3Client({ region: source.region, ...(source.endpoint ? { endpoint: source.endpoint } : {}) })
    : undefined;
}
