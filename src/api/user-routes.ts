/** /users/{user_id} over HTTP, one router per listener; the work is in src/use-cases/. */
import express, { type RequestHandler } from 'express';
import { toFieldIssues, UserId, VerificationUpdate } from '../contract';
import { ValidationError } from '../errors';
import type { ReadSignupStatus } from '../use-cases/read-signup-status';
import type { ReadUserRecord } from '../use-cases/read-user-record';
import type { SetVerificationState } from '../use-cases/set-verification-state';
import { requireJsonBody } from './json-body';

/** Public GET /users/{user_id}: where a signup is, without personal data. Limited per client. */
export function publicUserRoutes({ readSignupStatus, rateLimit }: { readSignupStatus: ReadSignupStatus; rateLimit: RequestHandler }): express.Router {
  const router = express.Router();
  router.get('/users/:user_id', rateLimit, async (req, res) => {
    res.json(await readSignupStatus(parseUserId(String(req.params.user_id))));
  });
  return router;
}

export interface AdminUserRecordRoutesDeps {
  readUserRecord: ReadUserRecord;
  setVerificationState: SetVerificationState;
}

/** Admin GET /users/{user_id} (the full record) and PUT /users/{user_id}. Mounted after the admin check and the JSON body parser. */
export function adminUserRecordRoutes({ readUserRecord, setVerificationState }: AdminUserRecordRoutesDeps): express.Router {
  const router = express.Router();
  router.get('/users/:user_id', async (req, res) => {
    res.json(await readUserRecord(parseUserId(req.params.user_id)));
  });
  router.put('/users/:user_id', async (req, res) => {
    const userId = parseUserId(req.params.user_id);
    // No body at all means VERIFIED; a body must be JSON.
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) requireJsonBody(req);
    const parsed = VerificationUpdate.safeParse(req.body ?? {});
    if (!parsed.success) throw new ValidationError('invalid verification state', toFieldIssues(parsed.error));
    res.json(await setVerificationState(userId, parsed.data.verification_state));
  });
  return router;
}

function parseUserId(raw: string): string {
  const parsed = UserId.safeParse(raw);
  if (!parsed.success) throw new ValidationError('user_id must be a UUID', toFieldIssues(parsed.error).map((i) => ({ ...i, field: 'user_id' })));
  return parsed.data.toLowerCase();
}
