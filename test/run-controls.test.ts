/**
 * How pause, resume and limits are sent again when the server answers that no worker processed
 * them. That answer cannot be brought about on demand (it needs a worker to complete the run's
 * workflow task at the wrong moment while taking the run over), so the client's handle is replaced
 * here by one that gives the server's own failure; the controls themselves run against the real
 * dev server in signals.workflow.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationFailure, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { pauseRun, RunControlError, sendUntilProcessed } from '../cli/run-controls';
import { filesPerCrawl } from '../workflows/controls';
import type { RunControlReply } from '../workflows';

/** What the server sends back for an update that a completed workflow task left unprocessed. */
const unprocessed = (): WorkflowUpdateFailedError =>
  new WorkflowUpdateFailedError(
    'Workflow Update failed',
    ApplicationFailure.create({
      type: 'UnprocessedUpdate',
      message: "Workflow Update is rejected because it wasn't processed by worker.",
      nonRetryable: true,
    }),
  );

const paused: RunControlReply = {
  paused: true,
  limits: { maxConcurrentDownloads: 4, maxRequestsPerSecond: 10 },
  filesInFlight: 4,
};

/** A send that fails with `failures` in turn, then answers `paused`; `sent` counts the calls. */
function server(failures: Error[]): { send: () => Promise<RunControlReply>; sent: () => number } {
  let calls = 0;
  return {
    send: () => {
      const failure = failures[calls];
      calls += 1;
      return failure ? Promise.reject(failure) : Promise.resolve(paused);
    },
    sent: () => calls,
  };
}

const clientFor = (send: () => Promise<RunControlReply>): Client =>
  ({ workflow: { getHandle: () => ({ executeUpdate: send }) } }) as unknown as Client;

void test('an update no worker processed is sent again, saying so, until one does', async () => {
  const { send, sent } = server([unprocessed(), unprocessed()]);
  const told: string[] = [];
  const state = await sendUntilProcessed(send, 'pause w', {
    attempts: 5,
    delayMs: 1,
    onResend: (m) => told.push(m),
  });
  assert.deepEqual(state, paused);
  assert.equal(sent(), 3);
  assert.deepEqual(
    told.map((m) => m.match(/attempt \d of \d/)?.[0]),
    ['attempt 2 of 5', 'attempt 3 of 5'],
  );
  assert.match(told[0] ?? '', /^pause w: no worker processed it/);
});

void test('it gives up after the last attempt, in one line that says what to check', async () => {
  const { send, sent } = server(Array.from({ length: 9 }, unprocessed));
  await assert.rejects(pauseRun(clientFor(send), 'w', { attempts: 3, delayMs: 1 }), (error: unknown) => {
    assert.ok(error instanceof RunControlError);
    assert.equal(
      error.message,
      'pause w: no worker processed it, after every attempt (is a worker running? `ccmix worker`)',
    );
    return true;
  });
  assert.equal(sent(), 3);
});

void test("the run's own refusal, or any other failure, is not sent again", async () => {
  const refusal = new WorkflowUpdateFailedError(
    'Workflow Update failed',
    ApplicationFailure.create({ message: 'maxConcurrentDownloads must be a positive integer, got 0' }),
  );
  for (const failure of [refusal, new Error('14 UNAVAILABLE: connection refused')]) {
    const { send, sent } = server([failure]);
    await assert.rejects(pauseRun(clientFor(send), 'w', { attempts: 5, delayMs: 1 }), {
      name: 'RunControlError',
      message: `pause w: ${failure === refusal ? 'maxConcurrentDownloads must be a positive integer, got 0' : failure.message}`,
    });
    assert.equal(sent(), 1);
  }
});

void test('the files in flight a limit gives: split over the crawls downloading at once, one each at least', () => {
  // Before: `ccmix limits --concurrency 2` answered "2 files in flight" while 4 crawls downloaded a
  // file each; the reply now carries lanes x filesPerCrawl.
  assert.equal(filesPerCrawl(8, 2), 4);
  assert.equal(filesPerCrawl(2, 4), 1, 'never none: 4 in effect');
  assert.equal(filesPerCrawl(3, 2), 1, '2 in effect, not 3');
});
