import { eventually } from '../harness/wait';
import { request } from './pipeline';

/** Waits until GET /users/{id} shows the user's onboarding COMPLETED, and returns that answer. */
export function untilOnboarded(baseUrl: string, userId: string) {
  return eventually(async () => {
    const res = await request(baseUrl, 'GET', `/users/${userId}`);
    return res.body?.onboarding_state === 'COMPLETED' ? res : undefined;
  }, 30_000, `user ${userId} to complete onboarding`);
}
