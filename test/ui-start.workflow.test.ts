/**
 * The Temporal UI's Start Workflow form, as the README's walkthrough fills it: its fields are the
 * ones the README names, and an invalid config pasted there fails the run at once, with zod's
 * message on the run's page (Debian's chromium through playwright-core; no Spark needed).
 *
 * config/examples/demo.json itself, pasted there, starts a run that passes validation. The complete
 * run started from the form, waited for in the UI until it shows Completed and checked down to its
 * manifest, is the fault suite's reference run (test/faults/faults.test.ts, on the suite's own
 * two-crawl config): one full pipeline run serves both, for CI's time. Both use the form code in
 * helpers/browser.ts.
 *
 * `CCMIX_UPDATE_DOCS=1` saves the filled form as docs/ui-start.png for the README.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { TASK_QUEUE } from '../config/temporal';
import { REPO_ROOT } from '../core/paths';
import { browserSkipReason, TemporalUi, WORKFLOW_TYPE } from './helpers/browser';
import { startTestStack, type TestStack } from './helpers/services';

const skip = browserSkipReason();
const DEMO_CONFIG = path.join(REPO_ROOT, 'config', 'examples', 'demo.json');
const SCREENSHOT = path.join(REPO_ROOT, 'docs', 'ui-start.png');

let stack: TestStack;
let client: Client;
let ui: TemporalUi;

before(async () => {
  if (skip) return;
  stack = await startTestStack(['temporal']);
  ({ client } = stack);
  ui = await TemporalUi.open(stack.services.settings);
});

after(async () => {
  await ui?.close();
  await stack?.stop();
});

test('the README names the form fields the tests fill', () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Start a run from the Temporal UI');
  assert.ok(start >= 0, 'README has a "Start a run from the Temporal UI" section');
  const end = readme.slice(start + 4).search(/^#{2,3} /m);
  const walkthrough = readme.slice(start, end < 0 ? undefined : start + 4 + end);
  for (const value of [TASK_QUEUE, WORKFLOW_TYPE, 'config/examples/demo.json', 'docs/ui-start.png']) {
    assert.ok(walkthrough.includes(value), `the walkthrough mentions ${value}`);
  }
});

test(
  "the README's picture of the filled form (written with CCMIX_UPDATE_DOCS=1)",
  {
    skip: skip || (!process.env.CCMIX_UPDATE_DOCS && 'set CCMIX_UPDATE_DOCS=1 to refresh docs/ui-start.png'),
  },
  async () => {
    // The form as the walkthrough fills it, with demo.json as it is; not submitted.
    await ui.page.setViewportSize({ width: 1280, height: 1400 });
    await ui.fillStartForm('ccmix-demo-ui', readFileSync(DEMO_CONFIG, 'utf8'));
    await ui.inputEditor().hover();
    await ui.page.mouse.wheel(0, -10_000); // the JSON from its first line
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    rmSync(SCREENSHOT, { force: true });
    await ui.startForm().screenshot({ path: SCREENSHOT });
    await ui.page.setViewportSize({ width: 1280, height: 1000 });
    assert.ok(existsSync(SCREENSHOT), SCREENSHOT);
  },
);

test(
  'an invalid config pasted in the UI fails the run at once, with the zod error on the page',
  { skip },
  async () => {
    const workflowId = 'ccmix-invalid-ui';
    await ui.start(workflowId, '{"crawls":["nope"],"pareto":{"alpha":0}}');
    await ui.waitForStatus(workflowId, 'Failed', 20_000);
    // The run page's Result panel holds the failure's message.
    const resultPanel = ui.page.getByTestId('input-and-result');
    for (const text of ['Invalid ccmix config', 'crawls.0', 'pareto.alpha']) {
      await resultPanel.getByText(text).first().waitFor({ state: 'visible', timeout: 10_000 });
    }
    // At once: validation is the workflow's first step, before any activity.
    const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
    assert.ok(events && !events.some((e) => e.activityTaskScheduledEventAttributes), 'no activity ran');
  },
);

test(
  'config/examples/demo.json pasted in the form, as the README says: the run starts with it and passes validation',
  { skip },
  async () => {
    const workflowId = 'ccmix-demo-ui';
    const demo = readFileSync(DEMO_CONFIG, 'utf8');
    await ui.start(workflowId, demo);
    const handle = client.workflow.getHandle(workflowId);
    try {
      // Past validation: the first discovery is scheduled (the demo's mirror is not up here, so
      // the run goes no further; the fault suite's reference run goes the whole way through the form).
      const deadline = Date.now() + 20_000;
      let events = (await handle.fetchHistory()).events ?? [];
      while (
        !events.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'discoverCrawl')
      ) {
        assert.ok(Date.now() < deadline, 'no discovery was scheduled within 20 s');
        await new Promise((resolve) => setTimeout(resolve, 250));
        events = (await handle.fetchHistory()).events ?? [];
      }
      const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      assert.ok(input, 'the run has an input');
      assert.deepEqual(
        defaultPayloadConverter.fromPayload(input),
        JSON.parse(demo),
        'the input is demo.json',
      );
    } finally {
      await handle.terminate('the test only checks the start');
    }
  },
);
