/**
 * The admin listener's user routes: GET /users (the listing) and DELETE /users/{user_id}
 * (erasure). Mounted behind the admin token and the JSON body parser; the work is in
 * src/use-cases/list-users.ts and erase-user.ts.
 */
import express from 'express';
import { z } from 'zod';
import { toFieldIssues, UserId, UserView, VerificationState } from '../contract';
import { ValidationError } from '../errors';
import type { EraseUser } from '../use-cases/erase-user';
import { type ListUsers, USER_LIST_DEFAULT_LIMIT, USER_LIST_MAX_LIMIT } from '../use-cases/list-users';
import { ADMIN_AUTH_PROBLEMS, type AdminOperation, adminPathObjects } from './admin-openapi';

export interface AdminUserRoutesDeps {
  listUsers: ListUsers;
  eraseUser: EraseUser;
}

const OnboardingStateFilter = z.enum(['PERSISTED', 'COMPLETED']);

/** The listing's query string. Unknown parameters are refused: a misspelt filter must not return everything. */
export const UserListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(USER_LIST_MAX_LIMIT).default(USER_LIST_DEFAULT_LIMIT),
  cursor: z.string().optional(),
  onboarding_state: OnboardingStateFilter.optional(),
  verification_state: VerificationState.optional(),
  created_after: z.iso.datetime({ offset: true }).transform((s) => new Date(s)).optional(),
  created_before: z.iso.datetime({ offset: true }).transform((s) => new Date(s)).optional(),
});

export const UserListPage = z.object({
  users: z.array(UserView),
  next_cursor: z.string().nullable().meta({ description: 'pass as `cursor` for the next page; null on the last page' }),
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

const OPERATIONS: AdminOperation[] = [
  {
    method: 'get',
    path: '/users',
    operationId: 'listUsers',
    summary: 'Users a page at a time, in (created_at, user_id) order; filters combine',
    tags: ['users'],
    queryParameters: [
      { name: 'limit', description: `rows per page, 1–${USER_LIST_MAX_LIMIT}`, schema: { type: 'integer', minimum: 1, maximum: USER_LIST_MAX_LIMIT, default: USER_LIST_DEFAULT_LIMIT } },
      { name: 'cursor', description: 'the `next_cursor` of the previous page (opaque)', schema: { type: 'string' } },
      { name: 'onboarding_state', description: 'only users in this onboarding state', schema: { type: 'string', enum: OnboardingStateFilter.options } },
      { name: 'verification_state', description: 'only users in this verification state', schema: { type: 'string', enum: VerificationState.options } },
      { name: 'created_after', description: 'created at or after (RFC 3339)', schema: { type: 'string', format: 'date-time' } },
      { name: 'created_before', description: 'created before (RFC 3339)', schema: { type: 'string', format: 'date-time' } },
    ],
    responses: { 200: { description: 'One page', schema: UserListPage } },
    problems: ['validation', ...ADMIN_AUTH_PROBLEMS, 'serviceUnavailable', 'internal'],
  },
  {
    method: 'delete',
    path: '/users/{user_id}',
    operationId: 'eraseUser',
    summary:
      'Erase a user: the row, the signup, links, counters and idempotency keys; its workflow runs (terminated and deleted); its DLQ letters. Leaves a tombstone (the id only), publishes user.erased, writes an audit line. Idempotent',
    tags: ['users'],
    pathParameters: [{ name: 'user_id', description: 'the user to erase', format: 'uuid' }],
    responses: { 204: { description: 'Erased, now or by an earlier DELETE (every retry answers the same)' } },
    problems: ['validation', 'badRequest', ...ADMIN_AUTH_PROBLEMS, 'notFound', 'serviceUnavailable', 'internal'],
  },
];

/** The OpenAPI path objects of these routes, for the admin document. */
export const adminUserPaths = adminPathObjects(OPERATIONS);
