/**
 * Runs in flight must survive a changed workflow: histories recorded from earlier code (the demo's
 * full pipeline and one of its download children) replay on today's workflows without a
 * nondeterminism error. The fixtures are gzipped binary `History` protos, as `fetchHistory()`
 * returns them: `temporal.api.history.v1.History.encode(history).finish()`.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';

const HISTORY_SUFFIX = '.history.pb.gz';
const DIR = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'histories');

void test('recorded histories replay on the current workflow code', async () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith(HISTORY_SUFFIX));
  assert.ok(files.length >= 2, `recorded histories in ${DIR}`);
  const histories = files.map((file) => ({
    workflowId: file.slice(0, -HISTORY_SUFFIX.length),
    history: temporal.api.history.v1.History.decode(gunzipSync(readFileSync(path.join(DIR, file)))),
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
