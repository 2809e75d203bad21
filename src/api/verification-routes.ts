/**
 * GET /verify (the page a mail's link opens), POST /verify (its button, or JSON from a client's
 * own UI) and POST /verification/resend. The work is in src/use-cases; this only speaks HTTP.
 */
import express, { type NextFunction, type RequestHandler, type Response, type Router } from 'express';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { toFieldIssues, type VerificationResendAccepted, VerificationResendRequest, VerifyEmailRequest } from '../contract';
import { AppError, UnsupportedMediaTypeError, ValidationError } from '../errors';
import type { VerificationRuns } from '../temporal/verification-runs';
import { resendAddressSecret, resendVerification } from '../use-cases/resend-verification';
import { inspectVerificationToken, verifyEmailWithToken } from '../use-cases/verify-email';
import { problemFor } from './problem';
import { confirmationPage, problemPage, sendPage, verifiedPage } from './verification-pages';

export interface VerificationRoutesDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  runs: VerificationRuns;
  /** Per-client limits shared by every API process (sharedRateLimit): the link's routes, and resend. */
  rateLimits: { verify: RequestHandler; resend: RequestHandler };
}

const JSON_TYPES = ['application/json', 'application/*+json'];
const FORM_TYPE = 'application/x-www-form-urlencoded';

const RESEND_ACCEPTED: VerificationResendAccepted = {
  status: 'ACCEPTED',
  message: 'If this address belongs to an account waiting for verification, a new link is on its way.',
};

export function verificationRoutes({ config, logger, pool, runs, rateLimits }: VerificationRoutesDeps): Router {
  const router = express.Router();
  const verifyDeps = { pool, runs, logger };
  const resendDeps = {
    ...verifyDeps,
    addressSecret: resendAddressSecret(config.security.payloadKeys[0].key),
    limit: { perAddress: config.verification.resend.addressLimit, windowMs: config.verification.resend.windowMs },
  };
  const jsonBody = express.json({ limit: config.http.bodyLimitBytes, type: JSON_TYPES });

  router.get('/verify', rateLimits.verify, async (req, res, next) => {
    const token = req.query.token;
    await answerWithPage(res, next, async () => {
      await inspectVerificationToken(verifyDeps, token);
      return { status: 200, html: confirmationPage(token as string) };
    });
  });

  // The one route that takes a form: the page's button. Everything else speaks JSON.
  router.post('/verify', rateLimits.verify, express.urlencoded({ extended: false, limit: '2kb', parameterLimit: 4 }), jsonBody, async (req, res, next) => {
    if (req.is(FORM_TYPE)) {
      await answerWithPage(res, next, async () => {
        await verifyEmailWithToken(verifyDeps, (req.body as Record<string, unknown> | undefined)?.token);
        return { status: 200, html: verifiedPage() };
      });
      return;
    }
    if (!req.is(JSON_TYPES)) throw new UnsupportedMediaTypeError('send {"token": …} as application/json (or use the form on the verification page)');
    const parsed = VerifyEmailRequest.safeParse(req.body);
    if (!parsed.success) throw new ValidationError('invalid verification request', toFieldIssues(parsed.error));
    res.json(await verifyEmailWithToken(verifyDeps, parsed.data.token, parsed.data.user_id));
  });

  router.post(
    '/verification/resend',
    rateLimits.resend,
    jsonBody,
    (req, res) => {
      if (!req.is(JSON_TYPES)) throw new UnsupportedMediaTypeError('send {"email": …} as application/json');
      const parsed = VerificationResendRequest.safeParse(req.body);
      if (!parsed.success) throw new ValidationError('invalid resend request', toFieldIssues(parsed.error));
      // Answered before the work is done, and the same whatever it finds: neither what the answer
      // says nor how long it takes tells whether the address is registered.
      resendVerification(resendDeps, parsed.data.email).then(
        (outcome) => req.log.info({ outcome }, 'verification resend handled'),
        (err: Error) => req.log.warn({ err: err.message }, 'verification resend failed'),
      );
      res.status(202).json(RESEND_ACCEPTED);
    },
  );
  return router;
}

/** Our own refusals (a bad token, a database outage) become a page with the problem's status; anything else goes to the error handler. */
async function answerWithPage(res: Response, next: NextFunction, render: () => Promise<{ status: number; html: string }>): Promise<void> {
  try {
    const { status, html } = await render();
    sendPage(res, status, html);
  } catch (err) {
    if (!(err instanceof AppError)) return next(err);
    const { kind, problem, headers } = problemFor(err);
    res.locals.problemKind = kind;
    if (headers) res.set(headers);
    sendPage(res, problem.status, problemPage(problem.title, problem.detail ?? problem.title));
  }
}
