/** POST /signup over HTTP: the limiter, the counter and the route; the work is in src/use-cases/submit-signup.ts. */
import express, { type RequestHandler, type Response } from 'express';
import type { ConcurrencyLimit } from '../concurrency-limit';
import { type SignupAccepted, SignupRequest, toFieldIssues } from '../contract';
import { ValidationError } from '../errors';
import type { ApiMetrics } from '../metrics';
import type { SubmitSignup } from '../use-cases/submit-signup';
import { requireJsonBody } from './json-body';

/**
 * Counts every answer to POST /signup by outcome; mounted on /signup. Counted when the answer is sent, so
 * rejections by the body parser (413, malformed JSON) are counted too; the problem handler, or
 * the route for a hidden duplicate, leaves the kind in res.locals.
 */
export function countSignupOutcomes(metrics: Pick<ApiMetrics, 'signupsAccepted' | 'signupsRejected'>): RequestHandler {
  return (req, res, next) => {
    if (req.method === 'POST') {
      res.on('finish', () => {
        if (res.statusCode === 202 && !res.locals.problemKind) metrics.signupsAccepted.inc();
        else metrics.signupsRejected.inc({ reason: String(res.locals.problemKind ?? res.statusCode) });
      });
    }
    next();
  };
}

/**
 * Refuses a signup with 503 (OverloadedError) before its body is read, when every hash slot and
 * wait place is taken: a signup that would be shed at its hash is shed before any work, the
 * e-mail lookup included. The hash itself still takes its slot under the same limit.
 */
export function shedWhenHashingFull(limit: Pick<ConcurrencyLimit, 'refuseIfFull'>): RequestHandler {
  return (_req, _res, next) => {
    limit.refuseIfFull();
    next();
  };
}

/** POST /signup. Mounted after the JSON body parser. */
export function signupRoutes({ submitSignup }: { submitSignup: SubmitSignup }): express.Router {
  const router = express.Router();
  router.post('/signup', async (req, res) => {
    requireJsonBody(req);
    const parsed = SignupRequest.safeParse(req.body);
    if (!parsed.success) throw new ValidationError('the signup has invalid fields', toFieldIssues(parsed.error));
    const result = await submitSignup(parsed.data, String(req.id));
    // Counted as what it is, though the client is told otherwise.
    if (result.outcome === 'duplicateHidden') res.locals.problemKind = 'duplicateHidden';
    sendAccepted(res, result.userId);
  });
  return router;
}

function sendAccepted(res: Response, userId: string): void {
  const accepted: SignupAccepted = {
    status: 'SUCCESS',
    message: 'Signup accepted; onboarding is in progress.',
    user_id: userId,
    verification: 'PENDING',
  };
  res.status(202).location(`/users/${userId}`).json(accepted);
}
