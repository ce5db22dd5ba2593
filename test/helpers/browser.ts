/**
 * Debian's chromium for browser tests, driven by playwright-core (which never downloads a browser).
 * `infra/setup.sh` installs it when missing; where it could not, the browser tests skip and say why.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

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
