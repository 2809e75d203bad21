/** GET and PUT /users/{user_id} over HTTP; the work is in src/use-cases/. */
import express from 'express';
import { toFieldIssues, UserId, VerificationUpdate } from '../contract';
import { ValidationError } from '../errors';
import type { ReadSignupStatus } from '../use-cases/read-signup-status';
import type { SetVerificationState } from '../use-cases/set-verification-state';
import { requireJsonBody } from './json-body';

export interface UserRoutesDeps {
  readSignupStatus: ReadSignupStatus;
  setVerificationState: SetVerificationState;
}

/** GET /users/{user_id} and PUT /users/{user_id}. Mounted after the admin check and the JSON body parser. */
export function userRoutes({ readSignupStatus, setVerificationState }: UserRoutesDeps): express.Router {
  const router = express.Router();
  router.get('/users/:user_id', async (req, res) => {
    res.json(await readSignupStatus(parseUserId(req.params.user_id)));
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
