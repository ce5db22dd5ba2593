/** The size of every workflow run of a ccmix run, as the server stores it. */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { RUN_SEARCH_ATTRIBUTE } from '../../config/temporal';

export interface RunHistory {
  workflowId: string;
  runId: string;
  events: number;
  /** Encoded size, the figure Temporal's 50 MB limit applies to. */
  bytes: number;
  continuedAsNew: boolean;
}

export async function runHistories(client: Client, runName: string): Promise<RunHistory[]> {
  const runs: RunHistory[] = [];
  for await (const execution of client.workflow.list({
    query: `${RUN_SEARCH_ATTRIBUTE.name} = '${runName}'`,
  })) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    const events = history.events ?? [];
    runs.push({
      workflowId: execution.workflowId,
      runId: execution.runId,
      events: events.length,
      bytes: temporal.api.history.v1.History.encode(history).finish().length,
      continuedAsNew: events.some((e) => e.workflowExecutionContinuedAsNewEventAttributes != null),
    });
  }
  return runs;
}
