/**
 * The API's Express app: which middleware runs in which order, and which use case each route
 * calls. Handlers live in the *-routes.ts modules, the work in src/use-cases/.
 */
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import express from 'express';
import helmet from 'helmet';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { version } from '../../package.json';
import { createConcurrencyLimit } from '../concurrency-limit';
import type { Config } from '../config';
import { NotFoundError } from '../errors';
import { connectedCheck, downTooLong, healthRouter, postgresCheck, temporalCheck } from '../health';
import type { SignupPublisher } from '../messaging/signup-publisher';
import { type ApiMetrics, metricsRouter, type Registry } from '../metrics';
import { createSignupRequestRepository } from '../repositories/signup-request-repository';
import { createUserRepository } from '../repositories/user-repository';
import { onboardingProgressWithin } from '../temporal/onboarding-runs';
import { createVerificationRuns } from '../temporal/verification-runs';
import { createReadSignupStatus } from '../use-cases/read-signup-status';
import { createSetVerificationState } from '../use-cases/set-verification-state';
import { createSubmitSignup } from '../use-cases/submit-signup';
import { requireBearerToken } from './bearer-auth';
import { codecRoutes } from './codec-routes';
import { docsRoutes } from './docs-routes';
import { jsonBody } from './json-body';
import { hashPassword as argon2idHash } from './password';
import { errorHandler } from './problem';
import { requestLogging } from './request-logging';
import { countSignupOutcomes, shedWhenHashingFull, signupRateLimit, signupRoutes } from './signup-routes';
import { userRoutes } from './user-routes';
import { verificationRoutes } from './verification-routes';

export interface ApiDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  publisher: Pick<SignupPublisher, 'publishSignup' | 'isConnected' | 'downReason'>;
  /**
   * The client must be built with this same codec, so progress lookups can read encrypted
   * results. Its connection may be lazy and Temporal away: nothing at start needs it.
   */
  temporal: Client;
  payloadCodec: PayloadCodec;
  /** This process's registry: /metrics serves it. */
  registry: Registry;
  metrics: ApiMetrics;
  hashPassword?: (password: string) => Promise<string>;
}

export function createApp(deps: ApiDeps): express.Express {
  const { config, logger, pool, publisher, temporal, metrics } = deps;
  const { security } = config;
  const users = createUserRepository(pool);
  const signupRequests = createSignupRequestRepository(pool);
  // argon2id under the process's cap: it runs on libuv's pool, which pg and amqplib need too.
  const hashLimit = createConcurrencyLimit({
    concurrency: config.hashing.concurrency,
    queueLimit: config.hashing.queueLimit,
    onShed: () => metrics.signupsShed.inc(),
  });
  metrics.observeHashLimit(hashLimit);
  const hash = deps.hashPassword ?? argon2idHash;
  const submitSignup = createSubmitSignup({
    users,
    signupRequests,
    publisher,
    hashPassword: (password) => hashLimit.run(() => hash(password)),
    duplicateSignupResponse: security.duplicateSignupResponse,
    logger,
  });
  const readSignupStatus = createReadSignupStatus({
    signupRequests,
    runProgress: (userId) => onboardingProgressWithin(temporal, userId, config.temporal.lookupTimeoutMs),
    verificationExpiresAfterMs: config.verification.expiresAfterMs,
    logger,
  });
  const verificationRuns = createVerificationRuns(temporal, { taskQueue: config.temporal.taskQueue });
  const setVerificationState = createSetVerificationState({ users, runs: verificationRuns, logger });

  const app = express();
  app.disable('x-powered-by');
  app.set('bodyLimitBytes', config.http.bodyLimitBytes);
  // Decides req.ip, the rate-limit key: only the proxies named here may set X-Forwarded-For.
  app.set('trust proxy', security.trustProxy);

  app.use('/signup', countSignupOutcomes(metrics));
  // Operations endpoints come before the request logger: probes and scrapes every few seconds
  // would drown the log.
  // Temporal is reported, not required: signups need only Postgres and RabbitMQ, and a status
  // read answers from the database when Temporal is away. A load balancer keeps this process.
  // Liveness fails once the publisher has been down past PUBLISHER_DOWN_LIVENESS_MS: its channel
  // comes back by itself, so one that does not needs a restart.
  app.use(
    healthRouter(
      {
        postgres: postgresCheck(pool),
        rabbitmq: connectedCheck('publisher', () => publisher.isConnected()),
        temporal: temporalCheck(temporal),
      },
      { informational: ['temporal'], liveness: downTooLong('publisher', () => publisher.downReason(), config.amqp.publisherDownLivenessMs) },
    ),
  );
  app.use(metricsRouter(deps.registry));
  app.use(docsRoutes(version));
  app.use(requestLogging(logger));
  app.use(helmet());

  // Refusals registered before the body parser, so a refused request is not even read.
  app.post('/signup', signupRateLimit(security.signupRateLimit), shedWhenHashingFull(hashLimit));
  app.put('/users/:user_id', requireBearerToken([security.adminToken]));
  app.use(
    codecRoutes({ codec: deps.payloadCodec, tokens: [security.adminToken, security.codecToken], corsOrigins: security.codecCorsOrigins }),
  );
  // Before the JSON parser: POST /verify also takes the confirmation page's urlencoded form.
  app.use(verificationRoutes({ config, logger, pool, runs: verificationRuns }));
  app.use(jsonBody(config.http.bodyLimitBytes));

  app.use(signupRoutes({ submitSignup, pool, config }));
  app.use(userRoutes({ readSignupStatus, setVerificationState }));
  app.use((req) => {
    throw new NotFoundError(`no route for ${req.method} ${req.path}`);
  });
  app.use(errorHandler(logger));
  return app;
}
