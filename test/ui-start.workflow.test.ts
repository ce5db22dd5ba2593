/**
 * Starting buildMixture from the Temporal UI, as the README tells a user to: Debian's chromium
 * (through playwright-core) opens the dev server's UI, fills the Start Workflow form with
 * `config/examples/demo.json` pointed at the test's mirror, starts the run and waits in the UI
 * until it completes; an invalid config pasted the same way fails at once with zod's message on
 * the page. The UI-started run stops after download (the mix stage would add minutes of Spark),
 * so the test checks the committed download inventories, not a manifest.
 *
 * `CCMIX_UPDATE_DOCS=1` also saves the filled form as docs/ui-start.png for the README.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import type { Browser, Locator, Page } from 'playwright-core';
import { NAMESPACE, TASK_QUEUE } from '../config/temporal';
import { readInventory } from '../core/download/inventory';
import { generateMiniCrawl, type MiniCrawlSummary } from '../core/minicrawl';
import { REPO_ROOT } from '../core/paths';
import { LocalStorage } from '../core/storage';
import { mirrorUrl, type ServicesSettings } from '../infra/services';
import type { BuildMixtureResult } from '../workflows';
import { browserSkipReason, launchChromium } from './helpers/browser';
import { startTestStack, tempDir, type TestStack } from './helpers/services';

const skip = browserSkipReason();
const WORKFLOW_TYPE = 'buildMixture';
const crawls = ['CC-MAIN-2016-07', 'CC-MAIN-2019-30'];
const DEMO_CONFIG = path.join(REPO_ROOT, 'config', 'examples', 'demo.json');
const SCREENSHOT = path.join(REPO_ROOT, 'docs', 'ui-start.png');

let stack: TestStack;
let client: Client;
let settings: ServicesSettings;
let browser: Browser;
let page: Page;
let crawlDir: string;
let miniCrawl: MiniCrawlSummary;

before(async () => {
  if (skip) return;
  crawlDir = tempDir('mini');
  miniCrawl = await generateMiniCrawl({ outDir: crawlDir, size: 1, seed: 5, crawls });
  stack = await startTestStack(['temporal', 'mirror'], crawlDir);
  ({ client } = stack);
  settings = stack.services.settings;
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

const uiUrl = (rest: string): string =>
  `http://${settings.host}:${settings.temporalUiPort}/namespaces/${NAMESPACE}/${rest}`;

/** Workflows list → Start Workflow, then the form's four fields, as a user fills them. */
async function fillStartForm(workflowId: string, input: string): Promise<void> {
  await page.goto(uiUrl('workflows'));
  await page.getByRole('link', { name: 'Start Workflow' }).click();
  await page.getByLabel('Workflow ID').fill(workflowId);
  await page.getByLabel('Task Queue').fill(TASK_QUEUE);
  await page.getByLabel('Workflow Type').fill(WORKFLOW_TYPE);
  // Input → Data is a code editor: click into it and paste (typing would auto-close brackets).
  // Leaving it pretty-prints the JSON, which moves the Start button: leave it before any click.
  const data = page.locator('main [role="textbox"]');
  await data.click();
  await page.keyboard.insertText(input);
  await data.blur();
}

/** The form's card: the innermost element holding both the first field and the Start button. */
const startForm = (): Locator =>
  page
    .locator('main div')
    .filter({ has: page.getByLabel('Workflow ID') })
    .filter({ has: page.getByTestId('start-workflow-button') })
    .last();

/** Saves what the page shows, for a failure message. */
async function screenshotFor(name: string): Promise<string> {
  const file = path.join(tempDir('ui-shot'), `${name}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
  return file;
}

/**
 * Fills and submits the form, follows the "Workflow started successfully" notice to the run's
 * page and waits there for the UI (which refreshes itself) to show `status`.
 */
async function runFromUi(workflowId: string, input: string, status: string, timeout: number): Promise<void> {
  await fillStartForm(workflowId, input);
  await page.getByTestId('start-workflow-button').click();
  try {
    await page.getByRole('link', { name: 'Workflow started successfully' }).click({ timeout: 15_000 });
  } catch (error) {
    throw new Error(`${workflowId}: no start notice (${await screenshotFor(workflowId)})`, { cause: error });
  }
  const badge = page.getByTestId('execution-status').first();
  try {
    await badge.filter({ hasText: new RegExp(`^\\s*${status}\\s*$`) }).waitFor({ timeout });
  } catch (error) {
    const shown = (await badge.textContent().catch(() => null))?.trim();
    const file = await screenshotFor(workflowId);
    throw new Error(`${workflowId}: the UI shows ${JSON.stringify(shown)}, not ${status} (${file})`, {
      cause: error,
    });
  }
}

/** The README's input: the demo config, pointed at this test's mirror, storage and crawls. */
function demoInput(storageRoot: string): string {
  const demo = JSON.parse(readFileSync(DEMO_CONFIG, 'utf8')) as Record<string, unknown>;
  const input = {
    ...demo,
    crawls,
    source: { kind: 'http', baseUrl: mirrorUrl(settings) },
    storageRoot,
    stopAfter: 'download',
  };
  return JSON.stringify(input, null, 2);
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

test('the README names the form fields this test fills', () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Start a run from the Temporal UI');
  assert.ok(start >= 0, 'README has a "Start a run from the Temporal UI" section');
  const end = readme.slice(start + 4).search(/^#{2,3} /m);
  const walkthrough = readme.slice(start, end < 0 ? undefined : start + 4 + end);
  for (const value of [TASK_QUEUE, WORKFLOW_TYPE, 'config/examples/demo.json', 'docs/ui-start.png']) {
    assert.ok(walkthrough.includes(value), `the walkthrough mentions ${value}`);
  }
});

test('a run started from the Start Workflow form completes, watched in the UI', { skip }, async () => {
  const storageRoot = tempDir('ui-root');
  const workflowId = 'ccmix-demo-ui';
  if (process.env.CCMIX_UPDATE_DOCS) {
    // The README's picture: the form as its walkthrough fills it, with demo.json as it is.
    await page.setViewportSize({ width: 1280, height: 1400 });
    await fillStartForm(workflowId, readFileSync(DEMO_CONFIG, 'utf8'));
    await page.locator('main [role="textbox"]').hover();
    await page.mouse.wheel(0, -10_000); // the JSON from its first line
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await startForm().screenshot({ path: SCREENSHOT });
    await page.setViewportSize({ width: 1280, height: 1000 });
  }
  await runFromUi(workflowId, demoInput(storageRoot), 'Completed', 75_000);

  const result = (await client.workflow.getHandle(workflowId).result()) as BuildMixtureResult;
  assert.equal(result.name, 'demo', 'the UI delivered the pasted config');
  assert.equal(result.download.files, miniCrawl.files);
  const storage = new LocalStorage(storageRoot);
  for (const crawl of crawls) {
    const rows = await readInventory(storage, result.download.inventories[crawl] ?? '');
    assert.equal(rows.length, miniCrawl.perCrawl[crawl]?.files, `${crawl}: one inventory row per file`);
    for (const row of rows.filter((r) => r.status === 'ok')) {
      assert.equal(row.sha256, sha256(readFileSync(path.join(crawlDir, row.key))), row.key);
    }
  }
});

test(
  'an invalid config pasted in the UI fails the run at once, with the zod error on the page',
  { skip },
  async () => {
    const workflowId = 'ccmix-invalid-ui';
    await runFromUi(workflowId, '{"crawls":["nope"],"pareto":{"alpha":0}}', 'Failed', 20_000);
    // The run page's Result panel holds the failure's message.
    const resultPanel = page.getByTestId('input-and-result');
    for (const text of ['Invalid ccmix config', 'crawls.0', 'pareto.alpha']) {
      await resultPanel.getByText(text).first().waitFor({ state: 'visible', timeout: 10_000 });
    }
    // At once: validation is the workflow's first step, before any activity.
    const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
    assert.ok(events && !events.some((e) => e.activityTaskScheduledEventAttributes), 'no activity ran');
  },
);
