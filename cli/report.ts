/** `ccmix report RUN`: where a finished run's report is, from the run's own result. */
import type { Client } from '@temporalio/client';
import type { RunReportFiles } from '../core/report/facts';
import type { BuildMixtureResult } from '../workflows';

export class ReportUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportUnavailableError';
  }
}

export async function runReport(client: Client, workflowId: string): Promise<RunReportFiles> {
  const handle = client.workflow.getHandle(workflowId);
  const { status } = await handle.describe();
  if (status.name !== 'COMPLETED') {
    throw new ReportUnavailableError(
      `${workflowId} is ${status.name}: the report is written when a run completes`,
    );
  }
  const result = (await handle.result()) as BuildMixtureResult;
  if (!result.report) {
    throw new ReportUnavailableError(
      `${workflowId} completed before runs wrote reports; start it again (committed stages are skipped)`,
    );
  }
  return result.report;
}
