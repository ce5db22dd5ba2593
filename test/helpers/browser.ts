/**
 * Debian's chromium for browser tests, driven by playwright-core (which never downloads a browser).
 * `infra/setup.sh` installs it when missing; where it could not, the browser tests skip and say why.
 *
 * `TemporalUi` drives the dev server's Web UI as the README's walkthrough tells a user to: the
 * Start Workflow form, then the run's page until it shows how the run ended.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { NAMESPACE, TASK_QUEUE } from '../../config/temporal';
import type { ServicesSettings } from '../../infra/services';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** The workflow type the README's walkthrough types in the form. */
export const WORKFLOW_TYPE = 'buildMixture';

/** CCMIX_CHROMIUM if set, else the first Debian/Ubuntu chromium found. */
export function chromiumPath(): string | undefined {
  const fromEnv = process.env.CCMIX_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  return CANDIDATES.find((candidate) => existsSync(candidate));
}

/** A reason for `test(…, { skip })` when there is no browser, else false. */
export function browserSkipReason(): string | false {
  if (chromiumPath()) return false;
  return process.env.CCMIX_CHROMIUM
    ? `CCMIX_CHROMIUM=${process.env.CCMIX_CHROMIUM} does not exist`
    : `chromium not found (${CANDIDATES.join(', ')}); infra/setup.sh installs Debian's chromium where it can`;
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(browserSkipReason() || 'chromium not found');
  return chromium.launch({ executablePath });
}

/** How a run ended, as the run page's status badge names it. */
const CLOSED = /^\s*(Completed|Failed|Terminated|Canceled|Cancelled|Timed\s*Out|Continued\s*As\s*New)\s*$/i;

/** One page of the dev server's Web UI in a browser of its own. */
export class TemporalUi {
  private constructor(
    readonly browser: Browser,
    readonly page: Page,
    private readonly settings: ServicesSettings,
  ) {}

  static async open(settings: ServicesSettings): Promise<TemporalUi> {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      return new TemporalUi(browser, page, settings);
    } catch (error) {
      await browser.close();
      throw error;
    }
  }

  close(): Promise<void> {
    return this.browser.close();
  }

  url(rest: string): string {
    return `http://${this.settings.host}:${this.settings.temporalUiPort}/namespaces/${NAMESPACE}/${rest}`;
  }

  /** Workflows list → Start Workflow, then the form's four fields, as a user fills them. */
  async fillStartForm(workflowId: string, input: string): Promise<void> {
    const { page } = this;
    await page.goto(this.url('workflows'));
    await page.getByRole('link', { name: 'Start Workflow' }).click();
    await page.getByLabel('Workflow ID').fill(workflowId);
    await page.getByLabel('Task Queue').fill(TASK_QUEUE);
    await page.getByLabel('Workflow Type').fill(WORKFLOW_TYPE);
    // Input → Data is a code editor: click into it and paste (typing would auto-close brackets).
    // Leaving it pretty-prints the JSON, which moves the Start button: leave it before any click.
    const data = this.inputEditor();
    await data.click();
    await page.keyboard.insertText(input);
    await data.blur();
  }

  /** The form's Input → Data editor. */
  inputEditor(): Locator {
    return this.page.locator('main [role="textbox"]');
  }

  /** The form's card: the innermost element holding both the first field and the Start button. */
  startForm(): Locator {
    const { page } = this;
    return page
      .locator('main div')
      .filter({ has: page.getByLabel('Workflow ID') })
      .filter({ has: page.getByTestId('start-workflow-button') })
      .last();
  }

  /**
   * Fills and submits the form, then follows the "Workflow started successfully" notice to the
   * run's page (which refreshes itself while the run goes on).
   */
  async start(workflowId: string, input: string): Promise<void> {
    await this.fillStartForm(workflowId, input);
    await this.page.getByTestId('start-workflow-button').click();
    try {
      await this.page.getByRole('link', { name: 'Workflow started successfully' }).click({ timeout: 15_000 });
    } catch (error) {
      throw new Error(`${workflowId}: no start notice (${await this.screenshot(workflowId)})`, {
        cause: error,
      });
    }
  }

  /** Waits on the run's page until its status badge shows the run closed; returns what it shows. */
  async closedStatus(workflowId: string, timeout: number): Promise<string> {
    const badge = this.page.getByTestId('execution-status').first();
    try {
      await badge.filter({ hasText: CLOSED }).waitFor({ timeout });
    } catch (error) {
      const shown = (await badge.textContent().catch(() => null))?.trim();
      const file = await this.screenshot(workflowId);
      throw new Error(
        `${workflowId}: after ${timeout} ms the UI still shows ${JSON.stringify(shown)} (${file})`,
        {
          cause: error,
        },
      );
    }
    return ((await badge.textContent()) ?? '').trim();
  }

  /** Waits on the run's page until it shows the run closed, and fails unless it shows `status`. */
  async waitForStatus(workflowId: string, status: string, timeout: number): Promise<void> {
    const shown = await this.closedStatus(workflowId, timeout);
    if (shown !== status) {
      throw new Error(
        `${workflowId}: the UI shows ${JSON.stringify(shown)}, not ${status} (${await this.screenshot(workflowId)})`,
      );
    }
  }

  /** Saves what the page shows, for a failure message. */
  async screenshot(name: string): Promise<string> {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'ccmix-ui-shot-')), `${name}.png`);
    await this.page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    return file;
  }
}
