/**
 * Runs in flight must survive a changed workflow: histories recorded from earlier code replay on
 * today's workflows without a nondeterminism error. They are three of the demo's full pipelines
 * (`…f01919035ba0` from before any patch, `…34bc91ee5bea` with a job per crawl, `…d80b9a4b4b84`
 * with every `patched` branch taken, extraction jobs grouped by bytes) and one download child.
 * The fixtures are gzipped binary `History` protos, as `fetchHistory()` returns them:
 * `temporal.api.history.v1.History.encode(history).finish()`.
 *
 * A recorded history also shows what today's code does with old data: with the download
 * children's results as code older still recorded them (no `inventory`), the replayed run must
 * still give each extraction the inventory those runs wrote.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import type { SparkJobInput } from '../core/spark/submit';

const HISTORY_SUFFIX = '.history.pb.gz';
const DIR = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'histories');
const PIPELINE = 'ccmix-demo-f01919035ba0';

const readHistory = (workflowId: string): temporal.api.history.v1.History =>
  temporal.api.history.v1.History.decode(
    gunzipSync(readFileSync(path.join(DIR, `${workflowId}${HISTORY_SUFFIX}`))),
  );

void test('recorded histories replay on the current workflow code', async () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith(HISTORY_SUFFIX));
  assert.ok(files.length >= 2, `recorded histories in ${DIR}`);
  const histories = files.map((file) => ({
    workflowId: file.slice(0, -HISTORY_SUFFIX.length),
    history: readHistory(file.slice(0, -HISTORY_SUFFIX.length)),
  }));
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories(
    { workflowsPath: require.resolve('../workflows'), replayName: 'ccmix-replay' },
    histories,
  )) {
    replayed += 1;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  assert.equal(replayed, files.length);
  assert.deepEqual(failures, []);
});

void test('a download child result recorded without its inventory: extraction reads raw/<crawl>/inventory.parquet', async () => {
  const history = readHistory(PIPELINE);
  const stripped: string[] = [];
  for (const event of history.events) {
    const payload = event.childWorkflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
    if (!payload) continue;
    const { inventory, ...result } = defaultPayloadConverter.fromPayload<{
      crawl: string;
      inventory?: string;
    }>(payload);
    if (inventory === undefined) continue;
    stripped.push(result.crawl);
    event.childWorkflowExecutionCompletedEventAttributes!.result!.payloads![0] =
      defaultPayloadConverter.toPayload(result);
  }
  assert.ok(stripped.length > 0, 'the recorded run has download children');

  const extractions = new Map<string, unknown[]>();
  const replayed = await Worker.runReplayHistory(
    {
      workflowsPath: require.resolve('../workflows'),
      replayName: 'ccmix-replay-old-results',
      interceptors: { workflowModules: [require.resolve('./helpers/scheduled-activities')] },
      sinks: {
        scheduled: {
          activity: {
            fn: (_info, activityType: string, args: unknown[]) => {
              // The arguments come from the workflow's isolate: copied into this realm to compare.
              const job = structuredClone(args[0]) as SparkJobInput;
              if (activityType === 'runSparkJob' && job.job === 'extract')
                extractions.set(
                  job.stage,
                  job.inputs.flatMap((i) => i.paths),
                );
            },
            callDuringReplay: true,
          },
        },
      },
    },
    history,
    PIPELINE,
  ).then(
    () => null,
    (error: unknown) => error,
  );
  assert.equal(replayed, null, 'the history replays');
  assert.ok(extractions.size > 0, 'the recorded run extracted');
  for (const [stage, paths] of extractions) {
    const crawl = stage.replace(/^extract-/, '');
    assert.ok(stripped.includes(crawl), stage);
    assert.deepEqual(paths, [`raw/${crawl}/inventory.parquet`], stage);
  }
});
