/**
 * Which database errors are outages (503, the client retries) and which are bugs (500), decided
 * by isConnectionFailure and applied by callDatabase, against the real Postgres: a port with
 * nothing listening, a server that never answers, a full pool, a backend the server terminates,
 * and errors of SQL that no retry fixes.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Pool } from 'pg';
import { callDatabase, isConnectionFailure } from '../../src/db/postgres';
import { ServiceUnavailableError } from '../../src/errors';
import { closedPort, unreachablePostgres, useTestDatabase } from '../support/fixtures';
import { silentLogger } from '../support/stack';

const db = useTestDatabase();

function errorOf(work: () => Promise<unknown>): Promise<unknown> {
  return work().then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => err,
  );
}

/** A pool for `host:port` with the test database's credentials. */
function poolAt(host: string, port: number, options: { connectionTimeoutMillis?: number } = {}): Pool {
  const url = new URL(db.config.postgres.url);
  url.hostname = host;
  url.port = String(port);
  return new Pool({ connectionString: url.toString(), max: 1, ...options });
}

describe('isConnectionFailure: outages', () => {
  it('a port with nothing listening (connection refused), by address and by host name', async () => {
    const port = await closedPort();
    for (const host of ['127.0.0.1', 'localhost']) {
      const unreachable = poolAt(host, port);
      try {
        const err = await errorOf(() => unreachable.query('SELECT 1'));
        expect({ host, connectionFailure: isConnectionFailure(err) }).toEqual({ host, connectionFailure: true });
      } finally {
        await unreachable.end();
      }
    }
  });

  it('a server that accepts the connection and never answers (connect timeout)', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const slow = poolAt('127.0.0.1', (silent.address() as { port: number }).port, { connectionTimeoutMillis: 300 });
    try {
      const err = await errorOf(() => slow.query('SELECT 1'));
      expect((err as Error).message).toMatch(/timeout/i);
      expect(isConnectionFailure(err)).toBe(true);
    } finally {
      await slow.end();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a pool whose every connection is taken for longer than its connect timeout', async () => {
    const busy = new Pool({ connectionString: db.config.postgres.url, max: 1, connectionTimeoutMillis: 200 });
    const held = await busy.connect();
    try {
      const err = await errorOf(() => busy.query('SELECT 1'));
      expect((err as Error).message).toBe('timeout exceeded when trying to connect');
      expect(isConnectionFailure(err)).toBe(true);
    } finally {
      held.release();
      await busy.end();
    }
  });

  it('a backend the server terminates mid-query (57P01, as in a restart)', async () => {
    const victim = new Pool({ connectionString: db.config.postgres.url, max: 1 });
    // The pool reports the dropped client here; without a listener the process would crash.
    victim.on('error', () => undefined);
    const client = await victim.connect();
    try {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const running = errorOf(() => client.query('SELECT pg_sleep(30)'));
      // Only once the sleep is under way, so the termination hits the query and not the idle client.
      for (;;) {
        const { rows: active } = await db.pool.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [rows[0].pid]);
        if (active.length > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
      const err = await running;
      expect(err).toMatchObject({ code: '57P01' });
      expect(isConnectionFailure(err)).toBe(true);
    } finally {
      client.release(true);
      await victim.end();
    }
  });
});

describe('isConnectionFailure: bugs', () => {
  it('a SQL syntax error, a missing table, a violated constraint', async () => {
    const errors = [
      await errorOf(() => db.pool.query('SELEC 1')),
      await errorOf(() => db.pool.query('SELECT * FROM no_such_table')),
      await errorOf(() => db.pool.query("SELECT 'not-a-uuid'::uuid")),
    ];
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['42601', '42P01', '22P02']);
    for (const err of errors) expect(isConnectionFailure(err)).toBe(false);
  });

  it('anything that is not an Error', () => {
    for (const value of [undefined, null, 'ECONNREFUSED', { code: 'ECONNREFUSED' }]) expect(isConnectionFailure(value)).toBe(false);
  });
});

describe('callDatabase', () => {
  it('turns a connection failure into a 503 for Postgres', async () => {
    const unreachable = await unreachablePostgres();
    try {
      const err = await errorOf(() => callDatabase(() => unreachable.query('SELECT 1'), silentLogger));
      expect(err).toBeInstanceOf(ServiceUnavailableError);
      expect(err).toMatchObject({ service: 'postgres' });
    } finally {
      await unreachable.end();
    }
  });

  it('lets any other error through as the bug it is, without the row data Postgres put in it', async () => {
    await db.pool.query('CREATE TABLE secrets (value text CHECK (value <> $$ada@example.com$$))');
    const err = await errorOf(() => callDatabase(() => db.pool.query("INSERT INTO secrets VALUES ('ada@example.com')"), silentLogger));
    expect(err).not.toBeInstanceOf(ServiceUnavailableError);
    expect(err).toMatchObject({ name: 'PostgresError', code: '23514' });
    expect(`${JSON.stringify(err)} ${(err as Error).message}`).not.toContain('ada@example.com');
  });
});
