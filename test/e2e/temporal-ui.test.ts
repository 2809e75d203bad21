/**
 * The Temporal Web UI in a real browser: a signup goes through the real pipeline, then
 * headless Chromium (Debian's package, driven by playwright-core) finds its run by workflow id
 * in the dev server's UI and sees it Completed with the three activities. The screenshot is
 * kept in test-artifacts/ (and a copy in docs/ illustrates the README).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { haveChromium, launchChromium } from '../support/chromium';
import { signupBody } from '../support/fixtures';
import { type Pipeline, request, startPipeline } from '../support/pipeline';
import { eventually, startTemporal } from '../support/stack';
import { freePort } from '../harness/free-port';

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');
(haveChromium('the Temporal Web UI browser test') ? describe : describe.skip)('Temporal Web UI', () => {
  let p: Pipeline;
  let uiPort: number;
  let browser: Browser | undefined;

  beforeAll(async () => {
    uiPort = await freePort();
    p = await startPipeline({}, { temporal: () => startTemporal({ uiPort }) });
  });

  afterAll(async () => {
    await browser?.close();
    await p?.stop();
  });

  it('shows the signup’s run as Completed with its step, persistUser', async () => {
    const res = await request(p.baseUrl, 'POST', '/signup', signupBody());
    expect(res.status).toBe(202);
    const workflowId = `onboard-user-${res.body.user_id}`;
    await eventually(async () => {
      const user = await request(p.baseUrl, 'GET', `/users/${res.body.user_id}`);
      return user.body?.onboarding_state === 'COMPLETED' ? true : undefined;
    }, 30_000, 'onboarding to complete');

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const ui = `http://127.0.0.1:${uiPort}`;

    const list = (query: string) =>
      page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`, { waitUntil: 'domcontentloaded' });
    const runLink = page.locator(`a[href*="/workflows/${workflowId}/"]`).first();

    // The README's filter: runs by the OnboardingState search attribute the workflow sets.
    await list('WorkflowType = "onboardUser" AND OnboardingState = "COMPLETED"');
    await runLink.waitFor({ timeout: 30_000 });

    // Find the run the way an operator would: the workflow list filtered by its id.
    await list(`WorkflowId = "${workflowId}"`);
    await runLink.waitFor({ timeout: 30_000 });
    await runLink.click();

    await page.waitForURL(new RegExp(`/workflows/${workflowId}/[^/]+`), { timeout: 30_000 });
    await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: 30_000 });
    await page.getByText('persistUser').first().waitFor({ timeout: 30_000 });
    await expect(page.getByText(workflowId).first().isVisible()).resolves.toBe(true);

    mkdirSync(ARTIFACTS, { recursive: true });
    const screenshot = join(ARTIFACTS, 'temporal-ui-onboard-user.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(existsSync(screenshot)).toBe(true);
  });
});
