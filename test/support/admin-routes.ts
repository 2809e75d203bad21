/**
 * This branch's admin routers (erasure, listing, DLQ) in a small Express app of the test's own,
 * with the API's request logging, JSON parser and error handler, until the admin listener
 * mounts them behind the admin token. Built the way the merger should build them.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import express from 'express';
import type { Pool } from 'pg';
import { adminUserRoutes } from '../../src/api/admin-user-routes';
import { dlqRoutes } from '../../src/api/dlq-routes';
import { jsonBody } from '../../src/api/json-body';
import { errorHandler } from '../../src/api/problem';
import { requestLogging } from '../../src/api/request-logging';
import type { Config } from '../../src/config';
import { createDeadLetterQueue } from '../../src/dlq/dead-letter-queue';
import { NotFoundError } from '../../src/errors';
import { createEventPublisher, type EventPublisher } from '../../src/events/event-publisher';
import type { Logger } from '../../src/logger';
import { createSignupRequestRepository } from '../../src/repositories/signup-request-repository';
import { createUserRepository } from '../../src/repositories/user-repository';
import { terminateAndDeleteUserRuns } from '../../src/temporal/user-runs';
import { createEraseUser } from '../../src/use-cases/erase-user';
import { createListUsers } from '../../src/use-cases/list-users';
import { resendAddressSecret } from '../../src/use-cases/resend-verification';
import { createDeadLetterOperations } from '../../src/use-cases/review-dead-letters';

export interface AdminRoutesApp {
  baseUrl: string;
  close(): Promise<void>;
}

export async function startAdminRoutes(deps: { config: Config; pool: Pool; client?: Client; logger: Logger; events?: EventPublisher }): Promise<AdminRoutesApp> {
  const { config, pool, client, logger } = deps;
  const ownEvents = deps.events === undefined;
  const events =
    deps.events ?? createEventPublisher({ url: config.events.url, exchange: config.events.exchange, confirmTimeoutMs: config.events.publishConfirmTimeoutMs, logger });
  const deadLetters = createDeadLetterOperations({
    queue: createDeadLetterQueue({ url: config.amqp.url, topology: config.amqp, pool }),
    users: createUserRepository(pool),
    signupRequests: createSignupRequestRepository(pool),
    logger,
  });
  const eraseUser = createEraseUser({
    pool,
    deleteRuns: (userId) => {
      if (!client) throw new Error('no Temporal client in this test');
      return client.connection.withDeadline(Date.now() + 30_000, () => terminateAndDeleteUserRuns(client, userId));
    },
    deadLetters,
    events,
    eventSource: config.events.source,
    resendAddressSecret: resendAddressSecret(config.security.payloadKeys[0].key),
    logger,
  });
  const app = express();
  app.set('bodyLimitBytes', config.http.bodyLimitBytes);
  app.use(requestLogging(logger));
  app.use(jsonBody(config.http.bodyLimitBytes));
  app.use(adminUserRoutes({ listUsers: createListUsers({ pool, logger }), eraseUser }));
  app.use(dlqRoutes({ deadLetters }));
  app.use((req) => {
    throw new NotFoundError(`no route for ${req.method} ${req.path}`);
  });
  app.use(errorHandler(logger));
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (ownEvents) await events.close();
    },
  };
}
