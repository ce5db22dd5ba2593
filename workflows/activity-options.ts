/** Timeouts and retry policies of each group of activities, stated once. */
import type { ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_ERRORS } from '../config/temporal';

export const DISCOVER_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    // A throttling source can refuse the paths list for minutes; keep asking, politely.
    maximumAttempts: 30,
    nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
  },
};

export function downloadOptions(heartbeatTimeoutSeconds: number): ActivityOptions {
  return {
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: `${heartbeatTimeoutSeconds} seconds`,
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '5 minutes',
      nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
    },
  };
}

export const SPARK_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
  },
};

/**
 * Planning, the manifest and the report: short local work on the worker. Without heartbeats, a
 * worker that dies inside one is noticed only at this timeout, so it stays short.
 */
export const MIX_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
  },
};

/**
 * Verifying a 300B-token output reads ~460 GB (146.5 million rows of ~3.1 KB each once compressed,
 * as the mix bench's files are): hours, with a heartbeat after every file.
 */
export function verifyOptions(heartbeatTimeoutSeconds: number): ActivityOptions {
  return {
    ...MIX_OPTIONS,
    startToCloseTimeout: '12 hours',
    heartbeatTimeout: `${heartbeatTimeoutSeconds} seconds`,
  };
}
