import { types } from 'node:util';
import { Client, DatabaseError, Pool } from 'pg';
import type { Logger } from 'pino';
import { ServiceUnavailableError } from '../errors';
import { MIGRATIONS, type Migration } from './migrations';

export function createPool(url: string, max: number, logger: Logger): Pool {
  const pool = new Pool({ connectionString: url, max, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection (e.g. a Postgres restart) emits here; without a
  // listener that would crash the process. The pool replaces the client on next use.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'postgres idle client error'));
  return pool;
}

/**
 * A Postgres error without the row data it may carry: `detail` ("Failing row contains (...)"),
 * `where` and a value quoted at the end of the message would put an e-mail, names and the
 * password hash into logs and Temporal failures. Keeps what identifies the failure.
 */
export function withoutRowData(err: unknown): unknown {
  if (!(err instanceof DatabaseError)) return err;
  const safe = new Error(err.message.replace(/: ".*"$/s, ': "[redacted]"')) as Error & Partial<Pick<DatabaseError, 'code' | 'constraint' | 'table' | 'column'>>;
  safe.name = 'PostgresError';
  safe.code = err.code;
  safe.constraint = err.constraint;
  safe.table = err.table;
  safe.column = err.column;
  safe.stack = `${safe.name}: ${safe.message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`;
  return safe;
}

// Socket errors: the server is down, restarting, or not reachable from here.
const SOCKET_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
// SQLSTATEs of a server that is going away or refuses connections for now: admin_shutdown,
// crash_shutdown, cannot_connect_now, too_many_connections. Class 08 (connection exception) too.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const CONNECTION_EXCEPTION_CLASS = /^08[0-9A-Z]{3}$/;
// What pg and pg-pool throw, without a code, when a connection times out or drops.
const CONNECTION_FAILURE_MESSAGES = [
  /^timeout exceeded when trying to connect$/,
  /^Connection terminated/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Query read timeout$/,
];

/**
 * True when a database call failed because Postgres could not be reached or dropped the
 * connection: an outage, worth a retry later. False for anything else (bad SQL, a violated
 * constraint, a missing table): a bug that no retry fixes.
 */
export function isConnectionFailure(err: unknown): boolean {
  // isNativeError, not instanceof: socket errors are made in Node's own realm, which is not
  // always the caller's (a vm context, a test runner).
  if (!(types.isNativeError(err) || err instanceof Error)) return false;
  const { code, errors, cause } = err as Error & { code?: unknown; errors?: unknown };
  if (typeof code === 'string' && (SOCKET_ERROR_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || CONNECTION_EXCEPTION_CLASS.test(code))) {
    return true;
  }
  if (CONNECTION_FAILURE_MESSAGES.some((pattern) => pattern.test(err.message))) return true;
  // Node tries each address of a host name and reports every refusal in one AggregateError.
  if (Array.isArray(errors) && errors.some(isConnectionFailure)) return true;
  return cause !== undefined && isConnectionFailure(cause);
}

/**
 * Runs one database call on behalf of a client. A connection failure becomes a
 * ServiceUnavailableError (503: the client retries later); any other error is a bug and
 * propagates as it is (500), without the row data a Postgres error may carry.
 */
export async function callDatabase<T>(call: () => Promise<T>, logger: Logger, message = 'database unavailable'): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!isConnectionFailure(err)) throw withoutRowData(err);
    logger.warn({ err: (err as Error).message }, 'postgres unavailable');
    throw new ServiceUnavailableError('postgres', message);
  }
}

/** Creates the database named in the URL if it does not exist, via the server's `postgres` database. */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      } catch (err) {
        // Another process created it between our check and our CREATE.
        if ((err as { code?: string }).code !== '42P04') throw err;
      }
    }
  } finally {
    await client.end();
  }
}

// Any constant works; it only has to be the same in every process that migrates.
const MIGRATION_LOCK_ID = 727_001;

/** Applies pending migrations; safe to call from several processes at once. Returns the versions applied. */
export async function migrate(pool: Pool, migrations: Migration[] = MIGRATIONS): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
      }
      applied.push(m.version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    client.release();
  }
}

/**
 * The database sequence every process and harness runs: create the database if missing, open a
 * pool, apply pending migrations. Returns the pool and the versions this call applied.
 */
export async function openDatabase(
  postgres: { url: string; poolMax: number },
  logger: Logger,
): Promise<{ pool: Pool; applied: number[] }> {
  await ensureDatabase(postgres.url);
  const pool = createPool(postgres.url, postgres.poolMax, logger);
  try {
    return { pool, applied: await migrate(pool) };
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}
