/**
 * The API's two Express apps, and which middleware runs in which order, and which use case each
 * route calls. Handlers live in the *-routes.ts modules, the work in src/use-cases/.
 *
 * - The public app (PORT): signup, the status read without personal data, verification and
 *   resend, /openapi.json, /docs, /healthz and a /readyz that tells the status alone.
 * - The admin app (ADMIN_PORT, loopback by default): the full record, PUT, /metrics, the
 *   detailed /readyz, the codec endpoint, its own /openapi.json and /docs; every route behind
 *   the admin token, /metrics and /readyz excepted when ADMIN_OPEN_PROBES=true.
 *
 * Both are built over one set of use cases (createApiServices), so the two listeners of a
 * process share one hash limit, one set of limiters and one Temporal client.
 */
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { version } from '../../package.json';
import { type ConcurrencyLimit, createConcurrencyLimit } from '../concurrency-limit';
import type { Config } from '../config';
import { createDeadLetterQueue } from '../dlq/dead-letter-queue';
import { NotFoundError } from '../errors';
import type { EventPublisher } from '../events/event-publisher';
import { connectedCheck, type DependencyCheck, downTooLong, healthRouter, type HealthOptions, postgresCheck, readinessRouter, temporalCheck } from '../health';
import type { SignupPublisher } from '../messaging/signup-publisher';
import { type ApiMetrics, metricsRouter, type Registry } from '../metrics';
import { createSignupRequestRepository } from '../repositories/signup-request-repository';
import { createUserRepository } from '../repositories/user-repository';
import { onboardingProgressWithin } from '../temporal/onboarding-runs';
import { terminateAndDeleteUserRuns } from '../temporal/user-runs';
import { createEncryptionCodec } from '../temporal/payload-encryption';
import { createVerificationRuns, type VerificationRuns } from '../temporal/verification-runs';
import { createEraseUser, type EraseUser } from '../use-cases/erase-user';
import { createListUsers, type ListUsers } from '../use-cases/list-users';
import { createReadSignupStatus, type ReadSignupStatus } from '../use-cases/read-signup-status';
import { createReadUserRecord, type ReadUserRecord } from '../use-cases/read-user-record';
import { resendAddressSecret } from '../use-cases/resend-verification';
import { createDeadLetterOperations, type DeadLetterOperations } from '../use-cases/review-dead-letters';
import { createSetVerificationState, type SetVerificationState } from '../use-cases/set-verification-state';
import { createSubmitSignup, type SubmitSignup } from '../use-cases/submit-signup';
import { requireBearerToken } from './bearer-auth';
import { codecRoutes } from './codec-routes';
import { docsRoutes } from './docs-routes';
import { jsonBody } from './json-body';
import { hashPassword as argon2idHash } from './password';
import { errorHandler } from './problem';
import { requestLogging } from './request-logging';
import { sharedRateLimit } from './shared-rate-limit';
import { countSignupOutcomes, shedWhenHashingFull, signupRoutes } from './signup-routes';
import { adminUserRoutes } from './admin-user-routes';
import { dlqRoutes } from './dlq-routes';
import { adminUserRecordRoutes, publicUserRoutes } from './user-routes';
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
  /** The client's codec (refuses payloads in clear when PAYLOAD_ENCRYPTION_REQUIRED). */
  payloadCodec: PayloadCodec;
  /** This process's registry: the admin listener's /metrics serves it. */
  registry: Registry;
  metrics: ApiMetrics;
  /** Publishes user.erased; the caller opens it (lazily connected) and closes it on shutdown. */
  events: Pick<EventPublisher, 'publish'>;
  hashPassword?: (password: string) => Promise<string>;
}

/** The use cases and shared parts both listeners are built over; made once per process. */
export interface ApiServices {
  hashLimit: ConcurrencyLimit;
  submitSignup: SubmitSignup;
  readSignupStatus: ReadSignupStatus;
  readUserRecord: ReadUserRecord;
  verificationRuns: VerificationRuns;
  setVerificationState: SetVerificationState;
  listUsers: ListUsers;
  eraseUser: EraseUser;
  deadLetters: DeadLetterOperations;
  /** Readiness checks: Postgres and RabbitMQ decide; Temporal is reported only. */
  checks: Record<string, DependencyCheck>;
  /** The codec endpoint's: the same keys, a payload in clear shown as it is (search attributes, headers). */
  displayCodec: PayloadCodec;
  health: Pick<HealthOptions, 'informational' | 'liveness'>;
}

/** Terminating and deleting a user's runs: Temporal answers within seconds, or the erasure answers 503 and is retried. */
const ERASE_RUNS_DEADLINE_MS = 30_000;

export function createApiServices(deps: ApiDeps): ApiServices {
  const { config, logger, pool, publisher, temporal, metrics } = deps;
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
  const verificationRuns = createVerificationRuns(temporal, { taskQueue: config.temporal.taskQueue });
  const deadLetters = createDeadLetterOperations({
    queue: createDeadLetterQueue({ url: config.amqp.url, topology: config.amqp, pool }),
    users,
    signupRequests,
    logger,
  });
  return {
    hashLimit,
    submitSignup: createSubmitSignup({
      users,
      signupRequests,
      publisher,
      hashPassword: (password) => hashLimit.run(() => hash(password)),
      duplicateSignupResponse: config.security.duplicateSignupResponse,
      logger,
    }),
    readSignupStatus: createReadSignupStatus({
      signupRequests,
      runProgress: (userId) => onboardingProgressWithin(temporal, userId, config.temporal.lookupTimeoutMs),
      verificationExpiresAfterMs: config.verification.expiresAfterMs,
      logger,
    }),
    readUserRecord: createReadUserRecord({ users, logger }),
    displayCodec: createEncryptionCodec(config.security.payloadKeys),
    verificationRuns,
    setVerificationState: createSetVerificationState({ users, runs: verificationRuns, logger }),
    listUsers: createListUsers({ pool, logger }),
    eraseUser: createEraseUser({
      pool,
      deleteRuns: (userId) => temporal.connection.withDeadline(Date.now() + ERASE_RUNS_DEADLINE_MS, () => terminateAndDeleteUserRuns(temporal, userId)),
      deadLetters,
      events: deps.events,
      eventSource: config.events.source,
      resendAddressSecret: resendAddressSecret(config.security.payloadKeys[0].key),
      logger,
    }),
    deadLetters,
    // Temporal is reported, not required: signups need only Postgres and RabbitMQ, and a status
    // read answers from the database when Temporal is away. A load balancer keeps this process.
    checks: {
      postgres: postgresCheck(pool),
      rabbitmq: connectedCheck('publisher', () => publisher.isConnected()),
      temporal: temporalCheck(temporal),
    },
    // Liveness fails once the publisher has been down past PUBLISHER_DOWN_LIVENESS_MS: its channel
    // comes back by itself, so one that does not needs a restart.
    health: {
      informational: ['temporal'],
      liveness: downTooLong('publisher', () => publisher.downReason(), config.amqp.publisherDownLivenessMs),
    },
  };
}

/** Both listeners' apps over one set of use cases: what src/api/main.ts serves. */
export function createApps(deps: ApiDeps): { publicApp: express.Express; adminApp: express.Express } {
  const services = createApiServices(deps);
  return { publicApp: createApp(deps, services), adminApp: createAdminApp(deps, services) };
}

/** What every app of the API starts with: helmet first, so every answer carries its headers. */
function baseApp(config: Config): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // helmet before anything else: /docs, /openapi.json, /healthz, /readyz, /metrics and every
  // refusal (401, 404, 429) carry its headers too.
  app.use(helmet());
  app.set('bodyLimitBytes', config.http.bodyLimitBytes);
  // Decides req.ip, the rate-limit key: only the proxies named here may set X-Forwarded-For.
  app.set('trust proxy', config.security.trustProxy);
  return app;
}

/** The public listener's app (PORT). No route here reads back personal data. */
export function createApp(deps: ApiDeps, services: ApiServices = createApiServices(deps)): express.Express {
  const { config, logger, pool, metrics } = deps;
  const { security, limits } = config;
  // One limiter per route family, each its own counters in Postgres, shared by every API process.
  const limiter = (name: string, { limit, windowMs }: { limit: number; windowMs: number }): RequestHandler =>
    sharedRateLimit({ pool, limits, limiter: name, limit, windowMs, logger });
  const resend = config.verification.resend;

  const app = baseApp(config);
  app.use('/signup', countSignupOutcomes(metrics));
  // Operations endpoints come before the request logger: probes every few seconds would drown
  // the log. The readiness tells the status alone: which dependency is down is the admin
  // listener's to say.
  app.use(
    healthRouter(services.checks, {
      ...services.health,
      detail: 'status',
      onLivenessFailure: (reason) => logger.error({ reason }, 'liveness failing'),
    }),
  );
  app.use(docsRoutes(version, 'public'));
  app.use(requestLogging(logger));

  // Refusals registered before the body parser, so a refused request is not even read. The shed
  // first: it is in memory, and under overload no signup should wait on Postgres for its counter.
  app.post('/signup', shedWhenHashingFull(services.hashLimit), limiter('signup', security.signupRateLimit));
  // Before the JSON parser: POST /verify also takes the confirmation page's urlencoded form.
  app.use(
    verificationRoutes({
      config,
      logger,
      pool,
      runs: services.verificationRuns,
      rateLimits: {
        verify: limiter('verify', limits.verify),
        resend: limiter('verification-resend', { limit: resend.clientLimit, windowMs: resend.windowMs }),
      },
    }),
  );
  app.use(jsonBody(config.http.bodyLimitBytes));

  app.use(signupRoutes({ submitSignup: services.submitSignup, pool, config }));
  app.use(publicUserRoutes({ readSignupStatus: services.readSignupStatus, rateLimit: limiter('status-read', limits.statusRead) }));
  finish(app, logger);
  return app;
}

/**
 * The admin listener's app (ADMIN_PORT). Every route needs ADMIN_API_TOKEN (the codec endpoint
 * also CODEC_API_TOKEN), except /metrics and /readyz when ADMIN_OPEN_PROBES=true.
 */
export function createAdminApp(deps: ApiDeps, services: ApiServices = createApiServices(deps)): express.Express {
  const { config, logger } = deps;
  const { security } = config;
  const adminOnly = requireBearerToken([security.adminToken]);

  const app = baseApp(config);
  // Probes and scrapes come before the request logger (one every few seconds would drown the
  // log), behind the token unless ADMIN_OPEN_PROBES opens them to an unauthenticated scraper.
  if (!config.http.admin.openProbes) app.use(['/metrics', '/readyz'], adminOnly);
  app.use(metricsRouter(deps.registry));
  // Each dependency with a fixed failure code; the driver's own text goes to the log only (from
  // here, not from the public probe, which a load balancer calls every few seconds).
  app.use(
    readinessRouter(services.checks, {
      ...services.health,
      detail: 'codes',
      onDependencyFailure: (dependency, failure, error) => logger.warn({ dependency, failure, err: error }, 'readiness check failed'),
    }),
  );
  app.use(requestLogging(logger));
  // The codec takes the admin or the codec token, and answers CORS preflights, which carry no
  // Authorization header: mounted before the admin-only check, with its own.
  app.use(codecRoutes({ codec: services.displayCodec, tokens: [security.adminToken, security.codecToken], corsOrigins: security.codecCorsOrigins }));
  app.use(adminOnly);
  app.use(docsRoutes(version, 'admin'));
  app.use(jsonBody(config.http.bodyLimitBytes));
  app.use(adminUserRecordRoutes({ readUserRecord: services.readUserRecord, setVerificationState: services.setVerificationState }));
  app.use(adminUserRoutes({ listUsers: services.listUsers, eraseUser: services.eraseUser }));
  app.use(dlqRoutes({ deadLetters: services.deadLetters }));
  finish(app, logger);
  return app;
}

function finish(app: express.Express, logger: Logger): void {
  app.use((req) => {
    throw new NotFoundError(`no route for ${req.method} ${req.path}`);
  });
  app.use(errorHandler(logger));
}
