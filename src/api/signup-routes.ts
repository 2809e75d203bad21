/** POST /signup over HTTP: the limiter, the counter and the route; the work is in src/use-cases/submit-signup.ts. */
import express, { type RequestHandler } from 'express';
import type { Pool } from 'pg';
import type { ConcurrencyLimit } from '../concurrency-limit';
import type { Config } from '../config';
import { type SignupAccepted, SignupRequest, toFieldIssues } from '../contract';
import { ValidationError } from '../errors';
import type { ApiMetrics } from '../metrics';
import { createPasswordPolicy, refineSignupPassword, warmUpPasswordPolicy } from '../security/password-policy';
import { type IdempotentAnswer, parseIdempotencyKey, runIdempotently } from '../use-cases/idempotent-request';
import type { SubmitSignup } from '../use-cases/submit-signup';
import { requireJsonBody } from './json-body';

/**
 * Counts every answer to POST /signup by outcome; mounted on /signup. Counted when the answer is sent, so
 * rejections by the body parser (413, malformed JSON) are counted too; the problem handler
 * leaves the kind in res.locals. A hidden duplicate is an accepted signup here: the API does
 * not tell them apart (the worker counts hidden duplicates, on its own metrics).
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

export interface SignupRoutesDeps {
  submitSignup: SubmitSignup;
  /** Where Idempotency-Keys are kept. */
  pool: Pool;
  config: Pick<Config, 'passwordPolicy' | 'idempotency'>;
}

/** The scope Idempotency-Keys of this route are kept under. */
export const SIGNUP_IDEMPOTENCY_SCOPE = 'POST /signup';

/**
 * POST /signup. Mounted after the JSON body parser. The body and the password policy are checked
 * before an Idempotency-Key is claimed, so a refused body does not use the key up.
 */
export function signupRoutes({ submitSignup, pool, config }: SignupRoutesDeps): express.Router {
  const policy = createPasswordPolicy(config.passwordPolicy);
  // The estimator's dictionaries are built now, as the app is built at start, not on the first signup.
  warmUpPasswordPolicy();
  const SignupWithPasswordPolicy = SignupRequest.superRefine(refineSignupPassword(policy));
  const router = express.Router();
  router.post('/signup', async (req, res) => {
    requireJsonBody(req);
    const key = parseIdempotencyKey(req.headers['idempotency-key']);
    const parsed = SignupWithPasswordPolicy.safeParse(req.body);
    if (!parsed.success) throw new ValidationError('the signup has invalid fields', toFieldIssues(parsed.error));
    const accept = async (userId?: string): Promise<IdempotentAnswer> => {
      const { userId: acceptedId } = await submitSignup(parsed.data, String(req.id), userId);
      return acceptedAnswer(acceptedId);
    };
    const answer = key
      ? (await runIdempotently({ pool, ...config.idempotency }, { scope: SIGNUP_IDEMPOTENCY_SCOPE, key, body: req.body }, accept)).answer
      : await accept();
    // A replay sends the stored answer byte for byte.
    res.status(answer.status).set(answer.headers).type('application/json').send(answer.body);
  });
  return router;
}

function acceptedAnswer(userId: string): IdempotentAnswer {
  const accepted: SignupAccepted = {
    status: 'SUCCESS',
    message: 'Signup accepted; onboarding is in progress.',
    user_id: userId,
    verification: 'PENDING',
  };
  return { status: 202, headers: { Location: `/users/${userId}` }, body: JSON.stringify(accepted) };
}
