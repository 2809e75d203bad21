/** Headless Chromium (Debian's package, driven by playwright-core) for the browser tests. */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** True if Chromium is there; otherwise says loudly that `what` is skipped: a skipped browser test must never look like a passing one. */
export function haveChromium(what: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  process.stdout.write(
    `\n*** SKIPPING ${what}: no Chromium at ${CHROMIUM}. Install it with \`apt-get install -y chromium\` (.ci/run does) or set CHROMIUM_PATH. ***\n\n`,
  );
  return false;
}

/** launch() gives every browser a fresh, temporary --user-data-dir of its own. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
