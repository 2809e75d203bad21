import { Connection } from '@temporalio/client';
import amqplib from 'amqplib';
import { Client } from 'pg';
import { type Config, maskUrl } from './config';

export type Dependency = 'postgres' | 'rabbitmq' | 'temporal';

const HOW_TO_START: Record<Dependency, string> = {
  postgres: 'start it with `pg_ctlcluster 15 main start` or `docker compose up -d postgres`, or set DATABASE_URL',
  rabbitmq: 'start it with `rabbitmq-server -detached` or `docker compose up -d rabbitmq`, or set AMQP_URL',
  temporal: 'run `npm start` (it starts a dev server) or `temporal server start-dev`, or set TEMPORAL_ADDRESS',
};

export class DependencyUnreachableError extends Error {
  constructor(readonly failures: string[]) {
    super(`Cannot start: ${failures.length} service(s) unreachable:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
    this.name = 'DependencyUnreachableError';
  }
}

const TIMEOUT_MS = 3_000;

async function probe(dep: Dependency, config: Config): Promise<void> {
  switch (dep) {
    case 'postgres': {
      // The server, not the database: the database may not exist yet and is created at start.
      const admin = new URL(config.postgres.url);
      admin.pathname = '/postgres';
      const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: TIMEOUT_MS });
      await client.connect();
      await client.end();
      return;
    }
    case 'rabbitmq': {
      const conn = await amqplib.connect(config.amqp.url, { timeout: TIMEOUT_MS });
      await conn.close();
      return;
    }
    case 'temporal': {
      const conn = await Connection.connect({ ...config.temporal.connection, connectTimeout: TIMEOUT_MS });
      await conn.close();
      return;
    }
  }
}

function describe(dep: Dependency, config: Config): string {
  switch (dep) {
    case 'postgres':
      return `PostgreSQL at ${maskUrl(config.postgres.url)}`;
    case 'rabbitmq':
      return `RabbitMQ at ${maskUrl(config.amqp.url)}`;
    case 'temporal':
      return `Temporal at ${config.temporal.address}`;
  }
}

/** Checks each dependency at once and names every one that is down, with how to start it. */
export async function checkDependencies(config: Config, deps: Dependency[]): Promise<void> {
  const results = await Promise.allSettled(deps.map((d) => probe(d, config)));
  const failures = results.flatMap((r, i) =>
    r.status === 'rejected'
      ? [`${describe(deps[i], config)}: ${(r.reason as Error).message || r.reason}. To fix: ${HOW_TO_START[deps[i]]}.`]
      : [],
  );
  if (failures.length > 0) throw new DependencyUnreachableError(failures);
}
