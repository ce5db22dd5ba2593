/** Pause, resume and download limits of a running buildMixture, from the outside (CLI, tests). */
import {
  ApplicationFailure,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { DownloadLimits, RunControlReply } from '../workflows';

/** A control the run refused or could not receive, in one line. */
export class RunControlError extends Error {
  override name = 'RunControlError';
}

/** How a control is sent again when the server says no worker processed it. */
export interface ResendPolicy {
  attempts: number;
  delayMs: number;
  /** Told before each new attempt (the CLI prints it). */
  onResend?: (message: string) => void;
}

/**
 * A worker taking over a run (after a restart, or from one that stopped) can complete the run's
 * workflow task without processing an update that came with it; the server then rejects the
 * update, writing nothing to the history. Every control sets a state rather than stepping it, so
 * sending it again is safe.
 */
export const DEFAULT_RESEND: ResendPolicy = { attempts: 5, delayMs: 1000 };

/** Each resolves to the state the run holds once the change reached its running download children. */
export const pauseRun = (
  client: Client,
  workflowId: string,
  resend = DEFAULT_RESEND,
): Promise<RunControlReply> => update(client, workflowId, 'pause', undefined, resend);

export const resumeRun = (
  client: Client,
  workflowId: string,
  resend = DEFAULT_RESEND,
): Promise<RunControlReply> => update(client, workflowId, 'resume', undefined, resend);

export const setDownloadLimits = (
  client: Client,
  workflowId: string,
  limits: Partial<DownloadLimits>,
  resend = DEFAULT_RESEND,
): Promise<RunControlReply> => update(client, workflowId, 'setDownloadLimits', limits, resend);

async function update(
  client: Client,
  workflowId: string,
  name: string,
  limits: Partial<DownloadLimits> | undefined,
  resend: ResendPolicy,
): Promise<RunControlReply> {
  const handle = client.workflow.getHandle(workflowId);
  const send = (): Promise<RunControlReply> =>
    limits
      ? handle.executeUpdate<RunControlReply, [Partial<DownloadLimits>]>(name, { args: [limits] })
      : handle.executeUpdate<RunControlReply, []>(name);
  try {
    return await sendUntilProcessed(send, `${name} ${workflowId}`, resend);
  } catch (error) {
    throw new RunControlError(`${name} ${workflowId}: ${reason(error)}`);
  }
}

/** `send()`, again while the server answers that no worker processed it, up to `attempts` in all. */
export async function sendUntilProcessed<T>(
  send: () => Promise<T>,
  what: string,
  { attempts, delayMs, onResend }: ResendPolicy,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await send();
    } catch (error) {
      if (!unprocessed(error) || attempt >= attempts) throw error;
      onResend?.(
        `${what}: no worker processed it (one may be taking over the run); sending it again in ${delayMs} ms (attempt ${attempt + 1} of ${attempts})`,
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

function unprocessed(error: unknown): boolean {
  return (
    error instanceof WorkflowUpdateFailedError &&
    error.cause instanceof ApplicationFailure &&
    error.cause.type === 'UnprocessedUpdate'
  );
}

function reason(error: unknown): string {
  if (unprocessed(error))
    return `no worker processed it, after every attempt (is a worker running? \`ccmix worker\`)`;
  // The run's validator refused the change; nothing was recorded.
  if (error instanceof WorkflowUpdateFailedError && error.cause) return error.cause.message;
  if (error instanceof WorkflowNotFoundError) return 'no running workflow with that id (see `ccmix list`)';
  return error instanceof Error ? error.message : String(error);
}
