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
import type { Config } from '../config';
import { NotFoundError } from '../errors';
import { connectedCheck, downTooLong, healthRouter, postgresCheck, temporalCheck } from '../health';
import type { SignupPublisher } from '../messaging/signup-publisher';
import { type ApiMetrics, metricsRouter, type Registry } from '../metrics';
import { createSignupRequestRepository } from '../repositories/signup-request-repository';
import { createUserRepository } from '../repositories/user-repository';
import { onboardingProgress } from '../temporal/onboarding-runs';
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
import { countSignupOutcomes, signupRateLimit, signupRoutes } from './signup-routes';
import { userRoutes } from './user-routes';

export interface ApiDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  publisher: Pick<SignupPublisher, 'publishSignup' | 'isConnected' | 'downReason'>;
  /** The client must be built with this same codec, so progress lookups can read encrypted results. */
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
  const submitSignup = createSubmitSignup({
    users,
    signupRequests,
    publisher,
    hashPassword: deps.hashPassword ?? argon2idHash,
    duplicateSignupResponse: security.duplicateSignupResponse,
    logger,
  });
  const readSignupStatus = createReadSignupStatus({
    users,
    signupRequests,
    runProgress: (userId) => onboardingProgress(temporal, userId),
    logger,
  });
  const setVerificationState = createSetVerificationState({ users, logger });

  const app = express();
  app.disable('x-powered-by');
  app.set('bodyLimitBytes', config.http.bodyLimitBytes);
  // Decides req.ip, the rate-limit key: only the proxies named here may set X-Forwarded-For.
  app.set('trust proxy', security.trustProxy);

  app.use('/signup', countSignupOutcomes(metrics));
  // Operations endpoints come before the request logger: probes and scrapes every few seconds
  // would drown the log.
  // Liveness fails once the publisher has been down past PUBLISHER_DOWN_LIVENESS_MS: its channel
  // comes back by itself, so one that does not needs a restart.
  app.use(
    healthRouter(
      {
        postgres: postgresCheck(pool),
        rabbitmq: connectedCheck('publisher', () => publisher.isConnected()),
        temporal: temporalCheck(temporal),
      },
      downTooLong('publisher', () => publisher.downReason(), config.amqp.publisherDownLivenessMs),
    ),
  );
  app.use(metricsRouter(deps.registry));
  app.use(docsRoutes(version));
  app.use(requestLogging(logger));
  app.use(helmet());

  // Refusals registered before the body parser, so a refused request is not even read.
  app.post('/signup', signupRateLimit(security.signupRateLimit));
  app.put('/users/:user_id', requireBearerToken([security.adminToken]));
  app.use(
    codecRoutes({ codec: deps.payloadCodec, tokens: [security.adminToken, security.codecToken], corsOrigins: security.codecCorsOrigins }),
  );
  app.use(jsonBody(config.http.bodyLimitBytes));

  app.use(signupRoutes({ submitSignup }));
  app.use(userRoutes({ readSignupStatus, setVerificationState }));
  app.use((req) => {
    throw new NotFoundError(`no route for ${req.method} ${req.path}`);
  });
  app.use(errorHandler(logger));
  return app;
}
