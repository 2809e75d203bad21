/**
 * The admin listener's user routes: GET /users (the listing) and DELETE /users/{user_id}
 * (erasure). Mounted behind the admin token and the JSON body parser; the work is in
 * src/use-cases/list-users.ts and erase-user.ts.
 */
import express from 'express';
import { z } from 'zod';
import { toFieldIssues, UserId, UserRowOnboardingState, VerificationState } from '../contract';
import { ValidationError } from '../errors';
import type { EraseUser } from '../use-cases/erase-user';
import { type ListUsers, USER_LIST_DEFAULT_LIMIT, USER_LIST_MAX_LIMIT } from '../use-cases/list-users';

export interface AdminUserRoutesDeps {
  listUsers: ListUsers;
  eraseUser: EraseUser;
}

/** The listing's query string. Unknown parameters are refused: a misspelt filter must not return everything. */
export const UserListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(USER_LIST_MAX_LIMIT).default(USER_LIST_DEFAULT_LIMIT),
  cursor: z.string().optional(),
  onboarding_state: UserRowOnboardingState.optional(),
  verification_state: VerificationState.optional(),
  created_after: z.iso.datetime({ offset: true }).transform((s) => new Date(s)).optional(),
  created_before: z.iso.datetime({ offset: true }).transform((s) => new Date(s)).optional(),
});

export function adminUserRoutes({ listUsers, eraseUser }: AdminUserRoutesDeps): express.Router {
  const router = express.Router();
  router.get('/users', async (req, res) => {
    const parsed = UserListQuery.safeParse(req.query);
    if (!parsed.success) throw new ValidationError('invalid listing parameters', toFieldIssues(parsed.error));
    res.json(await listUsers(parsed.data));
  });
  // 204 for every DELETE of an erased user, the first and each retry: the state asked for holds.
  // A client whose first answer was lost retries and must not read a 404 as "never existed".
  router.delete('/users/:user_id', async (req, res) => {
    await eraseUser(parseUserId(req.params.user_id), res.getHeader('X-Request-Id')?.toString());
    res.status(204).end();
  });
  return router;
}

function parseUserId(raw: string): string {
  const parsed = UserId.safeParse(raw);
  if (!parsed.success) throw new ValidationError('user_id must be a UUID', toFieldIssues(parsed.error).map((i) => ({ ...i, field: 'user_id' })));
  return parsed.data.toLowerCase();
}
