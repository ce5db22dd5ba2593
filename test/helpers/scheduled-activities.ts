/**
 * A workflow interceptor module for replay tests: reports every activity the workflow code
 * schedules (its type and arguments) through the `scheduled` sink, replay included, so a test can
 * see what today's workflow code would send given a recorded history.
 */
import { proxySinks, type Sinks, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

export interface ScheduledActivitySinks extends Sinks {
  scheduled: { activity(activityType: string, args: unknown[]): void };
}

const { scheduled } = proxySinks<ScheduledActivitySinks>();

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      scheduleActivity(input, next) {
        scheduled.activity(input.activityType, input.args);
        return next(input);
      },
    },
  ],
});
