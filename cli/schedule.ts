/**
 * Temporal Schedules that re-run buildMixture. A scheduled run takes the same config, so every
 * committed stage is skipped by its fingerprint; only what changed upstream runs again.
 */
import { ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { parseConfig } from '../config/schema';
import { RUN_SEARCH_ATTRIBUTE, TASK_QUEUE } from '../config/temporal';
import { runWorkflowId } from './client';

export const OVERLAP_POLICIES = [
  'SKIP',
  'BUFFER_ONE',
  'BUFFER_ALL',
  'CANCEL_OTHER',
  'TERMINATE_OTHER',
  'ALLOW_ALL',
] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

export interface ScheduleSpecInput {
  /** Cron expressions (UTC), e.g. `0 3 * * *`. */
  cron?: string[];
  /** Intervals like `24h`, `30m`. */
  every?: string[];
}

export interface CreateScheduleInput extends ScheduleSpecInput {
  config: unknown;
  /** Default: `ccmix-<config name>`. */
  scheduleId?: string;
  overlap?: OverlapPolicy;
  paused?: boolean;
}

export class ScheduleInputError extends Error {}

export interface ScheduleView {
  scheduleId: string;
  paused: boolean;
  note: string | undefined;
  spec: { cron: string[]; every: string[] };
  overlap: string;
  workflowIdPrefix: string | null;
  runs: number;
  recentRuns: { workflowId: string; scheduledAt: string }[];
  nextRuns: string[];
}

export async function createSchedule(client: Client, input: CreateScheduleInput): Promise<string> {
  const config = parseConfig(input.config);
  const cron = input.cron ?? [];
  const every = input.every ?? [];
  if (cron.length + every.length === 0) throw new ScheduleInputError('a schedule needs --cron or --every');
  const overlap = input.overlap ?? 'SKIP';
  const scheduleId = input.scheduleId ?? `ccmix-${config.name}`;
  await client.schedule.create({
    scheduleId,
    spec: {
      cronExpressions: cron,
      intervals: every.map((e) => ({ every: e as `${number}${'s' | 'm' | 'h' | 'd'}` })),
    },
    action: {
      type: 'startWorkflow',
      workflowType: 'buildMixture',
      taskQueue: TASK_QUEUE,
      // Temporal appends each run's scheduled time to this id.
      workflowId: runWorkflowId(config),
      args: [config],
      typedSearchAttributes: [{ key: RUN_SEARCH_ATTRIBUTE, value: config.name }],
      staticSummary: `buildMixture ${config.name} (scheduled)`,
    },
    policies: { overlap: ScheduleOverlapPolicy[overlap] },
    // Temporal describes cron specs as calendars; the memo keeps them as the user wrote them.
    memo: { spec: { cron, every } },
    state: { paused: input.paused ?? false },
  });
  return scheduleId;
}

function view(scheduleId: string, d: ScheduleDescription): ScheduleView {
  const action = d.action.type === 'startWorkflow' ? d.action : null;
  return {
    scheduleId,
    paused: d.state.paused,
    note: d.state.note,
    spec: (d.memo?.spec as ScheduleView['spec'] | undefined) ?? { cron: [], every: [] },
    overlap: String(d.policies.overlap),
    workflowIdPrefix: action?.workflowId ?? null,
    runs: d.info.numActionsTaken,
    recentRuns: d.info.recentActions.map((a) => ({
      workflowId: a.action.workflow.workflowId,
      scheduledAt: a.scheduledAt.toISOString(),
    })),
    nextRuns: d.info.nextActionTimes.map((t) => t.toISOString()),
  };
}

export async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleView> {
  return view(scheduleId, await client.schedule.getHandle(scheduleId).describe());
}

export async function listSchedules(client: Client): Promise<ScheduleView[]> {
  const views: ScheduleView[] = [];
  for await (const s of client.schedule.list()) {
    if (s.action?.type === 'startWorkflow' && s.action.workflowType === 'buildMixture') {
      views.push(await describeSchedule(client, s.scheduleId));
    }
  }
  return views;
}

export type ScheduleCommand = 'pause' | 'unpause' | 'trigger' | 'delete';

export async function changeSchedule(
  client: Client,
  scheduleId: string,
  command: ScheduleCommand,
): Promise<void> {
  const handle = client.schedule.getHandle(scheduleId);
  switch (command) {
    case 'pause':
      return handle.pause('paused with ccmix schedule pause');
    case 'unpause':
      return handle.unpause('unpaused with ccmix schedule unpause');
    case 'trigger':
      // No policy given: the schedule's own decides (SKIP by default), as for its timed runs.
      return handle.trigger();
    case 'delete':
      return handle.delete();
  }
}

export function renderSchedule(s: ScheduleView): string {
  const spec = [...s.spec.cron.map((c) => `cron "${c}"`), ...s.spec.every.map((e) => `every ${e}`)].join(
    ', ',
  );
  return [
    `${s.scheduleId}  ${s.paused ? 'PAUSED' : 'active'}  ${spec}  overlap ${s.overlap}  runs ${s.runs}`,
    ...s.recentRuns.map((r) => `  ran ${r.workflowId} (scheduled ${r.scheduledAt})`),
    ...s.nextRuns.slice(0, 3).map((t) => `  next ${t}`),
  ].join('\n');
}
