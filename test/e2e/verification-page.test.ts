/**
 * The whole verification loop as a person goes through it, in headless Chromium: sign up, open
 * the link from the mail Mailpit caught, press the button, see the confirmation. Then the user is
 * VERIFIED in GET /users/{id}, the run is listed in the Temporal Web UI under
 * `VerificationState = "VERIFIED"`, and user.verified is on the events exchange.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { haveChromium, launchChromium } from '../support/chromium';
import { verificationWorkflowId } from '../../src/onboarding-policy';
import { freePort } from '../harness/free-port';
import { linkIn } from '../support/mailpit';
import { eventually, startTemporal } from '../support/stack';
import { searchAttributeState, signUp, startVerificationStack, type VerificationStack, verificationState } from '../support/verification';

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');
(haveChromium('the verification page browser test') ? describe : describe.skip)('the verification page in a browser', () => {
  let s: VerificationStack;
  let uiPort: number;
  let browser: Browser | undefined;

  beforeAll(async () => {
    uiPort = await freePort();
    s = await startVerificationStack({}, { temporal: () => startTemporal({ uiPort }) });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('signup → mail → link → page → button → VERIFIED in GET, in the Web UI, and on onboarding.events', async () => {
    const { userId, email } = await signUp(s.p);
    const [mail] = await s.mailpit.waitForMessages(email, 1);
    const page = await (browser as Browser).newPage();
    // Any script on the page would be a CSP violation; none must be attempted.
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });

    const response = await page.goto(linkIn(mail), { waitUntil: 'domcontentloaded' });
    expect(response?.status()).toBe(200);
    await page.getByRole('heading', { name: 'Confirm your e-mail address' }).waitFor();
    expect(await verificationState(s.p, userId)).toBe('PENDING');

    await Promise.all([page.waitForURL(`${s.p.baseUrl}/verify`), page.getByRole('button', { name: 'Confirm my e-mail address' }).click()]);
    await page.getByRole('heading', { name: 'E-mail address confirmed' }).waitFor();
    expect(await page.getByText('Your e-mail address is verified').isVisible()).toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'verification-confirmed.png') });
    expect(consoleErrors).toEqual([]);

    expect(await verificationState(s.p, userId)).toBe('VERIFIED');
    const event = await s.events.waitFor(userId, 'user.verified');
    expect(event.routingKey).toBe('user.verified');
    expect(event.event.data).toEqual({ user_id: userId, verification_state: 'VERIFIED' });

    // The operator's view: runs listed by the search attribute.
    const workflowId = verificationWorkflowId(userId);
    await eventually(async () => ((await searchAttributeState(s.p, userId)) === 'VERIFIED' ? true : undefined), 30_000, 'the search attribute');
    const ui = await (browser as Browser).newPage({ viewport: { width: 1440, height: 900 } });
    const query = encodeURIComponent('WorkflowType = "verifyEmail" AND VerificationState = "VERIFIED"');
    await ui.goto(`http://127.0.0.1:${uiPort}/namespaces/default/workflows?query=${query}`, { waitUntil: 'domcontentloaded' });
    await ui.locator(`a[href*="/workflows/${workflowId}/"]`).first().waitFor({ timeout: 30_000 });
    await ui.screenshot({ path: join(ARTIFACTS, 'temporal-ui-verification-state.png') });
  });
});
