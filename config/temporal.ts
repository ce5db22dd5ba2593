/** Names shared by the worker, the client, the CLI and the dev server. Defined once, here. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TASK_QUEUE = 'ccmix';
export const NAMESPACE = 'default';

/** Registered when the dev server starts (infra/services.ts); the UI can filter on them. */
export const STAGE_SEARCH_ATTRIBUTE = defineSearchAttributeKey('CcmixStage', SearchAttributeType.KEYWORD);
export const RUN_SEARCH_ATTRIBUTE = defineSearchAttributeKey('CcmixRun', SearchAttributeType.KEYWORD);
/** Crawls whose download has finished: `CcmixCrawlsDone >= 41` finds runs past download. */
export const CRAWLS_DONE_SEARCH_ATTRIBUTE = defineSearchAttributeKey(
  'CcmixCrawlsDone',
  SearchAttributeType.INT,
);
export const SEARCH_ATTRIBUTE_KEYS = [
  STAGE_SEARCH_ATTRIBUTE,
  RUN_SEARCH_ATTRIBUTE,
  CRAWLS_DONE_SEARCH_ATTRIBUTE,
];

/** A repeated start of the same config finds the same workflow id instead of a second run. */
export function buildMixtureWorkflowId(name: string, configFingerprint: string): string {
  return `ccmix-${name}-${configFingerprint}`;
}

/** Child workflow ids derive from the parent's, so a re-run (and `ccmix status`) finds them. */
export function downloadWorkflowId(parentId: string, crawl: string): string {
  return `${parentId}-download-${crawl}`;
}

/** Error types that retrying cannot fix: every activity proxy lists them as non-retryable. */
export const NON_RETRYABLE_ERRORS = [
  'InvalidConfig',
  'SourceObjectMissing',
  'UnsafePath',
  'BadPathsList',
  'BadSparkInput',
  'MixPlanError',
  'MixVerificationFailed',
  'InventoryIncomplete',
];
