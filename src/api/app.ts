import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import express, { type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import swaggerUi from 'swagger-ui-express';
import { version } from '../../package.json';
import type { Config } from '../config';
import {
  type PendingUserView,
  SIGNUP_MESSAGE_VERSION,
  type SignupAccepted,
  type SignupMessage,
  SignupRequest,
  toFieldIssues,
  UserId,
  type UserView,
  VerificationUpdate,
} from '../contract';
import {
  EmailAlreadyRegisteredError,
  NotFoundError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UnsupportedMediaTypeError,
  UserNotFoundError,
  ValidationError,
} from '../errors';
import { connectedCheck, healthRouter, postgresCheck, temporalCheck } from '../health';
import type { SignupPublisher } from '../messaging/signup-publisher';
import { redactedRequest } from '../logger';
import { type ApiMetrics, metricsRouter, type Registry } from '../metrics';
import { onboardingProgress } from '../temporal/onboarding-runs';
import { createVerificationRuns } from '../temporal/verification-runs';
import { setVerificationState } from '../use-cases/set-verification-state';
import {
  findSignupRequest,
  findUserByEmail,
  findUserById,
  recordSignupAccepted,
  type UserRecord,
} from '../users/user-store';
import { requireBearerToken } from './bearer-auth';
import { codecRoutes } from './codec-routes';
import { hashPassword as argon2idHash } from './password';
import { openApiDocument } from './openapi';
import { errorHandler } from './problem';
import { verificationRoutes } from './verification-routes';

export interface ApiDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  publisher: Pick<SignupPublisher, 'publishSignup' | 'isConnected'>;
  /** The client must be built with this same codec, so progress lookups can read encrypted results. */
  temporal: Client;
  payloadCodec: PayloadCodec;
  /** This process's registry: /metrics serves it. */
  registry: Registry;
  metrics: ApiMetrics;
  hashPassword?: (password: string) => Promise<string>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createApp(deps: ApiDeps): express.Express {
  const { config, logger, pool, publisher, temporal, registry, metrics } = deps;
  const { security } = config;
  const hashPassword = deps.hashPassword ?? argon2idHash;
  const openApi = openApiDocument(version);
  const app = express();
  app.disable('x-powered-by');
  app.set('bodyLimitBytes', config.http.bodyLimitBytes);
  // Decides req.ip, the rate-limit key: only the proxies named here may set X-Forwarded-For.
  app.set('trust proxy', security.trustProxy);

  // Counted when the answer is sent, so rejections by the body parser (413, malformed JSON)
  // are counted too; the problem handler leaves the kind in res.locals.
  app.use('/signup', (req, res, next) => {
    if (req.method === 'POST') {
      res.on('finish', () => {
        if (res.statusCode === 202 && !res.locals.problemKind) metrics.signupsAccepted.inc();
        else metrics.signupsRejected.inc({ reason: String(res.locals.problemKind ?? res.statusCode) });
      });
    }
    next();
  });

  // Operations endpoints come before the request logger: probes and scrapes every few seconds
  // would drown the log.
  app.use(
    healthRouter({
      postgres: postgresCheck(pool),
      rabbitmq: connectedCheck('publisher', () => publisher.isConnected()),
      temporal: temporalCheck(temporal),
    }),
  );
  app.use(metricsRouter(registry));
  app.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(openApi, { customSiteTitle: 'Onboarding service API' }));

  app.use(
    pinoHttp({
      logger,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // Query strings carry verification tokens: never logged.
      serializers: { req: redactedRequest },
      // A 503 is a dependency outage already logged where it happened, not a bug.
      customLogLevel: (_req, res, err) => (res.statusCode === 503 ? 'warn' : err || res.statusCode >= 500 ? 'error' : 'info'),
    }),
  );
  app.use(helmet());

  // Registered before the body parser, so a refused request is not even read.
  app.post(
    '/signup',
    rateLimit({
      windowMs: security.signupRateLimit.windowMs,
      limit: security.signupRateLimit.limit,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      handler: (req, res, next) => {
        req.log.warn({ ip: req.ip }, 'signup rate limit exceeded');
        // The limiter has already worked out when this client's window resets.
        const retryAfter = Number(res.getHeader('Retry-After')) || Math.ceil(security.signupRateLimit.windowMs / 1000);
        next(new TooManyRequestsError(retryAfter));
      },
    }),
  );
  app.put('/users/:user_id', requireBearerToken([security.adminToken]));
  app.use(
    codecRoutes({ codec: deps.payloadCodec, tokens: [security.adminToken, security.codecToken], corsOrigins: security.codecCorsOrigins }),
  );

  const verificationRuns = createVerificationRuns(temporal, { taskQueue: config.temporal.taskQueue });
  app.use(verificationRoutes({ config, logger, pool, runs: verificationRuns }));

  app.use(express.json({ limit: config.http.bodyLimitBytes, type: ['application/json', 'application/*+json'] }));

  /** Postgres trouble is the client's to retry, not a 500. */
  async function db<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'postgres query failed');
      throw new ServiceUnavailableError('postgres', 'database unavailable');
    }
  }

  app.post('/signup', async (req, res) => {
    requireJsonBody(req);
    const parsed = SignupRequest.safeParse(req.body);
    if (!parsed.success) throw new ValidationError('the signup has invalid fields', toFieldIssues(parsed.error));
    const { email, first_name, last_name, password } = parsed.data;

    const existing = await db(() => findUserByEmail(pool, email));
    if (existing && security.duplicateSignupResponse === 'conflict') {
      throw new EmailAlreadyRegisteredError(existing.user_id, existing.verification_state);
    }
    // Hashed even for a duplicate in `accepted` mode, so both answers take as long.
    const passwordHash = await hashPassword(password);
    const userId = randomUUID();

    if (existing) {
      // `accepted` mode: a decoy id, recorded so that GET answers "queued" for it as for a real
      // signup. Nothing is published, so no second row and no DLQ message.
      await recordAccepted(req, userId);
      req.log.info({ user_id: userId, existing_user_id: existing.user_id }, 'duplicate signup answered as accepted; nothing published');
      // Counted as what it is, though the client is told otherwise.
      res.locals.problemKind = 'duplicateHidden';
      sendAccepted(res, userId);
      return;
    }

    const message: SignupMessage = {
      version: SIGNUP_MESSAGE_VERSION,
      user_id: userId,
      email,
      first_name,
      last_name,
      password_hash: passwordHash,
      requested_at: new Date().toISOString(),
      request_id: String(req.id),
    };
    await publisher.publishSignup(message);
    await recordAccepted(req, userId);
    // email is masked by the logger's redaction (a***@example.com).
    req.log.info({ user_id: userId, request_id: message.request_id, email }, 'signup accepted');
    sendAccepted(res, userId);
  });

  /** Only lets GET answer "queued" before the worker picks it up; the message is already safe. */
  async function recordAccepted(req: Request, userId: string): Promise<void> {
    await recordSignupAccepted(pool, userId).catch((err: Error) =>
      req.log.warn({ err: err.message, user_id: userId }, 'could not record the accepted signup'),
    );
  }

  app.get('/users/:user_id', async (req, res) => {
    const userId = parseUserId(req.params.user_id);
    const user = await db(() => findUserById(pool, userId));
    if (user) {
      res.json(userView(user));
      return;
    }
    const request = await db(() => findSignupRequest(pool, userId));
    if (request?.failed_at) {
      res.json(pendingView(userId, 'FAILED', request.failure_reason ?? 'unknown'));
      return;
    }
    let progress: Awaited<ReturnType<typeof onboardingProgress>>;
    try {
      progress = await onboardingProgress(temporal, userId);
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'temporal unavailable for a progress lookup');
      if (request) {
        res.json(pendingView(userId, 'QUEUED'));
        return;
      }
      throw new ServiceUnavailableError('temporal', 'onboarding state unavailable');
    }
    if (progress?.state === 'FAILED') res.json(pendingView(userId, 'FAILED', progress.reason));
    else if (progress?.state === 'PROCESSING') res.json(pendingView(userId, 'PROCESSING'));
    else if (request) res.json(pendingView(userId, 'QUEUED'));
    else throw new UserNotFoundError(userId);
  });

  app.put('/users/:user_id', async (req, res) => {
    const userId = parseUserId(req.params.user_id);
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) requireJsonBody(req);
    const parsed = VerificationUpdate.safeParse(req.body ?? {});
    if (!parsed.success) throw new ValidationError('invalid verification state', toFieldIssues(parsed.error));
    res.json(await setVerificationState({ pool, runs: verificationRuns, logger: req.log }, userId, parsed.data.verification_state));
  });

  app.use((req) => {
    throw new NotFoundError(`no route for ${req.method} ${req.path}`);
  });
  app.use(errorHandler(logger));
  return app;
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

function requireJsonBody(req: Request): void {
  if (!req.is(['application/json', 'application/*+json'])) {
    throw new UnsupportedMediaTypeError('send the body as application/json');
  }
}

function parseUserId(raw: string): string {
  const parsed = UserId.safeParse(raw);
  if (!parsed.success) throw new ValidationError('user_id must be a UUID', toFieldIssues(parsed.error).map((i) => ({ ...i, field: 'user_id' })));
  return parsed.data.toLowerCase();
}

function userView(user: UserRecord): UserView {
  return {
    user_id: user.user_id,
    email: user.email,
    first_name: user.first_name,
    last_name: user.last_name,
    verification_state: user.verification_state,
    onboarding_state: user.onboarding_state,
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
  };
}

function pendingView(userId: string, state: PendingUserView['onboarding_state'], failureReason?: string): PendingUserView {
  return {
    user_id: userId,
    verification_state: 'PENDING',
    onboarding_state: state,
    ...(failureReason ? { failure_reason: failureReason } : {}),
  };
}
