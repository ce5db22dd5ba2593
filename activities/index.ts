/**
 * Activities adapt plain functions (core/) to Temporal: retry classification, heartbeats,
 * cancellation. No pipeline logic lives here.
 */
import { ApplicationFailure } from '@temporalio/common';
import { PermanentSourceError } from '../core/commoncrawl-source';
import { discoverCrawl as discoverCrawlPlain, type DiscoverInput, type DiscoverResult } from '../core/discover';

function asPermanent(error: unknown): never {
  if (error instanceof PermanentSourceError) {
    throw ApplicationFailure.nonRetryable(error.message, 'SourceObjectMissing', { status: error.status });
  }
  if (error instanceof Error && error.message.startsWith('unsafe storage path')) {
    throw ApplicationFailure.nonRetryable(error.message, 'UnsafePath');
  }
  throw error;
}

export async function discoverCrawl(input: DiscoverInput): Promise<DiscoverResult & { skipped: boolean }> {
  return discoverCrawlPlain(input).catch(asPermanent);
}
