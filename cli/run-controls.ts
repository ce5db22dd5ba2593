/** Pause, resume and download limits of a running buildMixture, from the outside (CLI, tests). */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { DownloadLimits, RunControlState } from '../workflows';

/** A control the run refused or could not receive, in one line. */
export class RunControlError extends Error {
  override name = 'RunControlError';
}

/** Each resolves to the state the run holds once the change reached its running download children. */
export const pauseRun = (client: Client, workflowId: string): Promise<RunControlState> =>
  update(client, workflowId, 'pause');

export const resumeRun = (client: Client, workflowId: string): Promise<RunControlState> =>
  update(client, workflowId, 'resume');

export const setDownloadLimits = (
  client: Client,
  workflowId: string,
  limits: Partial<DownloadLimits>,
): Promise<RunControlState> => update(client, workflowId, 'setDownloadLimits', limits);

async function update(
  client: Client,
  workflowId: string,
  name: string,
  limits?: Partial<DownloadLimits>,
): Promise<RunControlState> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    return await (limits
      ? handle.executeUpdate<RunControlState, [Partial<DownloadLimits>]>(name, { args: [limits] })
      : handle.executeUpdate<RunControlState, []>(name));
  } catch (error) {
    throw new RunControlError(`${name} ${workflowId}: ${reason(error)}`);
  }
}

function reason(error: unknown): string {
  // The run's validator refused the change; nothing was recorded.
  if (error instanceof WorkflowUpdateFailedError && error.cause) return error.cause.message;
  if (error instanceof WorkflowNotFoundError) return 'no running workflow with that id (see `ccmix list`)';
  return error instanceof Error ? error.message : String(error);
}
