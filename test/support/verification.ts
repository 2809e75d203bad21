/** The whole service with a Mailpit of its own and a subscriber to its events: what the verification tests run on. */
import type { Env } from '../../src/config';
import { verificationWorkflowId } from '../../src/onboarding-policy';
import { VerificationStateKey } from '../../workflows/search-attributes';
import { freePort } from '../harness/free-port';
import { EventSubscriber } from './events';
import { signupBody } from './fixtures';
import { TestMailpit } from './mailpit';
import { type Pipeline, type PipelineOptions, request, startPipeline } from './pipeline';
import { eventually } from './stack';

export interface VerificationStack {
  p: Pipeline;
  mailpit: TestMailpit;
  events: EventSubscriber;
  stop(): Promise<void>;
}

export async function startVerificationStack(env: Env = {}, opts: PipelineOptions = {}): Promise<VerificationStack> {
  const mailpit = await TestMailpit.start();
  // PUBLIC_BASE_URL names the API's own port, so the links in the mails work as they are.
  const apiPort = await freePort();
  const p = await startPipeline({ SMTP_URL: mailpit.smtpUrl, PUBLIC_BASE_URL: `http://127.0.0.1:${apiPort}`, ...env }, { ...opts, apiPort });
  const events = await EventSubscriber.bind(p.config);
  return {
    p,
    mailpit,
    events,
    async stop() {
      await events.close();
      await p.stop();
      await mailpit.stop();
    },
  };
}

/** Signs a new user up through the API and waits until the row exists. */
export async function signUp(p: Pipeline): Promise<{ userId: string; email: string }> {
  const body = signupBody();
  const res = await request(p.baseUrl, 'POST', '/signup', body);
  if (res.status !== 202) throw new Error(`signup answered ${res.status}`);
  const userId = res.body.user_id as string;
  await eventually(async () => ((await request(p.baseUrl, 'GET', `/users/${userId}`)).body?.onboarding_state === 'COMPLETED' ? true : undefined), 30_000, 'onboarding');
  return { userId, email: body.email as string };
}

export async function verificationState(p: Pipeline, userId: string): Promise<string> {
  return (await request(p.baseUrl, 'GET', `/users/${userId}`)).body.verification_state;
}

/** The VerificationState search attribute of the user's current (latest) run. */
export async function searchAttributeState(p: Pipeline, userId: string): Promise<unknown> {
  const description = await p.client.workflow.getHandle(verificationWorkflowId(userId)).describe();
  return description.typedSearchAttributes.get(VerificationStateKey);
}

export async function runStatus(p: Pipeline, userId: string): Promise<string> {
  return (await p.client.workflow.getHandle(verificationWorkflowId(userId)).describe()).status.name;
}

/** POST /verify as JSON. */
export function verifyJson(p: Pipeline, body: unknown) {
  return request(p.baseUrl, 'POST', '/verify', body);
}

/** POST /verify as the page's form does. */
export async function verifyForm(p: Pipeline, token: string) {
  const res = await fetch(`${p.baseUrl}/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  return { status: res.status, type: res.headers.get('content-type'), html: await res.text() };
}
