/**
 * `npm run chaos`: signups through the real HTTP API while processes die and services restart,
 * then an exact account. Every 2xx must end as exactly one user row or exactly one DLQ message.
 *
 * It runs its own Temporal dev server (persistent db file), API and worker processes from dist/,
 * and a database and queues of its own, against the machine's RabbitMQ and Postgres, which it
 * restarts (rabbitmqctl stop_app/start_app, pg_ctlcluster restart). Exits 1 on any loss or
 * duplicate, an unexpected 5xx, a bad body accepted, a signup accepted whose answer never reached
 * the client, or a process that died on its own.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import amqplib from 'amqplib';
import { Client } from 'pg';
import { type Env, loadConfig } from '../src/config';
import { createPool, ensureDatabase, migrate } from '../src/db/postgres';
import { classifyDeadLetter, takeAll } from '../src/dlq/dead-letters';
import { createLogger } from '../src/logger';
import { devServerArgs, ensureTemporalCli } from '../src/local-stack/temporal-cli';
import { freePort } from './free-port';
import { ManagedProcess, sleep, waitFor } from './managed-process';
import { dropRunResources, queueConsumerCount } from './run-resources';

const run = promisify(execFile);

interface Options {
  signups: number;
  concurrency: number;
  badEvery: number;
  poison: number;
  apis: number;
  workers: number;
  workerKills: number;
  rabbitRestarts: number;
  postgresRestarts: number;
  temporalRestarts: number;
  /** Graceful restarts (SIGTERM, drain, start) of an API and a worker, as a deploy does. */
  deploys: number;
  settleSeconds: number;
  /** Signups started per second, so the load outlasts the faults injected into it. */
  rate: number;
  json?: string;
}

const DEFAULTS: Options = {
  signups: 2000,
  concurrency: 50,
  badEvery: 20, // 5 %
  poison: 5,
  apis: 2,
  workers: 2,
  workerKills: 3,
  rabbitRestarts: 1,
  postgresRestarts: 1,
  temporalRestarts: 1,
  deploys: 1,
  settleSeconds: 300,
  rate: 20,
};

function parseOptions(argv: string[]): Options {
  const opts: Record<string, unknown> = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument ${argv[i]}`);
    const key = m[1].replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const value = m[2] ?? argv[++i];
    if (!(key in DEFAULTS) && key !== 'json') throw new Error(`unknown option --${m[1]}`);
    opts[key] = key === 'json' ? value : Number(value);
    if (key !== 'json' && !Number.isFinite(opts[key])) throw new Error(`--${m[1]} needs a number`);
  }
  return opts as unknown as Options;
}

const log = (line: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

function badBody(i: number): { body: string; contentType: string } {
  const kinds = [
    { body: JSON.stringify({ email: 'not-an-email', first_name: 'A', last_name: 'B', password: 'long enough pw' }), contentType: 'application/json' },
    { body: JSON.stringify({ email: `bad-${i}@example.com`, first_name: 'A', last_name: 'B', password: 'short' }), contentType: 'application/json' },
    { body: JSON.stringify({ email: `bad-${i}@example.com`, last_name: 'B', password: 'long enough pw' }), contentType: 'application/json' },
    { body: '{"email": ', contentType: 'application/json' },
    { body: `email=bad-${i}@example.com`, contentType: 'application/x-www-form-urlencoded' },
  ];
  return kinds[i % kinds.length];
}

interface Answer {
  i: number;
  bad: boolean;
  email?: string;
  status: number;
  userId?: string;
  retryAfter?: string | null;
  service?: string;
  error?: string;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const suffix = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const tmp = mkdtempSync(join(tmpdir(), 'onboarding-chaos-'));
  const temporalPort = await freePort();
  const apiPorts = await Promise.all(Array.from({ length: opts.apis }, freePort));
  // Each worker serves health/metrics and the Temporal SDK's metrics on ports of its own.
  const workerPorts = await Promise.all(
    Array.from({ length: opts.workers }, async () => ({ http: await freePort(), sdkMetrics: await freePort() })),
  );
  const env: Env = {
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: `postgres://postgres@127.0.0.1:5432/onboarding_chaos_${suffix}`,
    AMQP_EXCHANGE: `onboarding.chaos.${suffix}`,
    AMQP_QUEUE: `user_onboarding_queue.chaos.${suffix}`,
    AMQP_DEAD_LETTER_EXCHANGE: `onboarding.dlx.chaos.${suffix}`,
    AMQP_DLQ: `user_onboarding_queue_dlq.chaos.${suffix}`,
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    TEMPORAL_TASK_QUEUE: `onboarding-chaos-${suffix}`,
    // A key for this run only; its Temporal history is thrown away with it.
    PAYLOAD_ENCRYPTION_KEYS: `chaos:${randomBytes(32).toString('base64')}`,
    // The whole load comes from one address; the limit is not what this run tests.
    SIGNUP_RATE_LIMIT: '1000000',
  };
  const config = loadConfig(env);
  const dist = join(__dirname, '..');
  const pgVersion = readdirSync('/etc/postgresql')[0];
  log(`run ${suffix}: ${opts.signups} signups at ${opts.concurrency} concurrent, ${opts.apis} API + ${opts.workers} worker processes; logs in ${tmp}`);

  const temporal = new ManagedProcess(
    'temporal',
    ensureTemporalCli(log),
    devServerArgs({ port: temporalPort, dbFile: join(tmp, 'temporal.db'), logLevel: 'error' }),
    process.env,
    join(tmp, 'temporal.log'),
  );
  const apis = apiPorts.map((port, n) => new ManagedProcess(`api-${n}`, process.execPath, [join(dist, 'src/api/main.js')], { ...env, PORT: String(port) }, join(tmp, `api-${n}.log`)));
  const workers = workerPorts.map(
    (ports, n) =>
      new ManagedProcess(
        `worker-${n}`,
        process.execPath,
        [join(dist, 'src/worker/main.js')],
        { ...env, WORKER_HTTP_PORT: String(ports.http), TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${ports.sdkMetrics}` },
        join(tmp, `worker-${n}.log`),
      ),
  );
  const everything = [temporal, ...apis, ...workers];

  const temporalUp = async () => {
    const c = await Connection.connect({ address: config.temporal.address, connectTimeout: 1_000 });
    await c.close();
    return true;
  };
  const rabbitUp = async () => {
    const c = await amqplib.connect(config.amqp.url, { timeout: 1_000 });
    await c.close();
    return true;
  };
  const postgresUp = async () => {
    const c = new Client({ connectionString: config.postgres.url, connectionTimeoutMillis: 1_000 });
    await c.connect();
    await c.end();
    return true;
  };
  const consumers = () => queueConsumerCount(config);

  const answers: Answer[] = [];
  const faultsDone: string[] = [];
  let loadFinished = false;
  let faultsDuringLoad = 0;
  let exitCode = 1;
  try {
    temporal.start();
    await waitFor('the Temporal dev server', temporalUp);
    await ensureDatabase(config.postgres.url);
    const setupPool = createPool(config.postgres.url, 1, createLogger({ name: 'chaos', level: 'warn' }));
    await migrate(setupPool);
    await setupPool.end();
    for (const p of [...apis, ...workers]) p.start();
    for (const [n, port] of apiPorts.entries()) {
      await waitFor(`api-${n}`, async () => (await fetch(`http://127.0.0.1:${port}/users/${randomUUID()}`)).status === 404);
    }
    await waitFor('the bridges to consume', async () => (await consumers()) >= opts.workers, 90_000);
    log('stack ready');

    // Faults, spread evenly over the load and run one at a time, kinds taken in turn.
    const kinds: Array<Array<{ name: string; act: () => Promise<void> }>> = [];
    const add = (n: number, name: string, act: () => Promise<void>) => kinds.push(Array.from({ length: n }, () => ({ name, act })));
    let kills = 0;
    add(opts.workerKills, 'SIGKILL a worker and restart it', async () => {
      const w = workers[kills++ % workers.length];
      await w.stop('SIGKILL');
      await sleep(1_000);
      w.start();
      // As a supervisor would see it: back only once its bridge consumes again.
      await waitFor('the restarted worker to consume', async () => (await consumers()) >= opts.workers, 90_000);
    });
    add(opts.rabbitRestarts, 'restart RabbitMQ', async () => {
      await run('rabbitmqctl', ['stop_app']);
      await sleep(3_000);
      await run('rabbitmqctl', ['start_app']);
      await waitFor('RabbitMQ', rabbitUp);
      await waitFor('every bridge to re-subscribe', async () => (await consumers()) >= opts.workers, 90_000);
    });
    add(opts.postgresRestarts, 'restart Postgres', async () => {
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', pgVersion, 'main', 'restart']);
      await waitFor('Postgres', postgresUp);
    });
    add(opts.temporalRestarts, 'restart the Temporal server', async () => {
      await temporal.stop('SIGTERM', 15_000);
      await sleep(1_000);
      temporal.start();
      await waitFor('the Temporal dev server', temporalUp);
    });
    add(opts.deploys, 'deploy: SIGTERM an API and a worker, let them drain, start them again', async () => {
      // The API answers what it has in flight before exiting; clients meanwhile reach the other API.
      await Promise.all([apis[apis.length - 1].stop('SIGTERM'), workers[workers.length - 1].stop('SIGTERM')]);
      apis[apis.length - 1].start();
      workers[workers.length - 1].start();
      await waitFor('the redeployed worker to consume', async () => (await consumers()) >= opts.workers, 90_000);
    });
    const faults: Array<{ name: string; act: () => Promise<void> }> = [];
    for (let round = 0; kinds.some((k) => k.length > round); round++) {
      for (const k of kinds) if (k[round]) faults.push(k[round]);
    }
    const poisonIds = Array.from({ length: opts.poison }, (_, k) => `chaos-poison-${suffix}-${k}`);
    faults.splice(Math.floor(faults.length / 2), 0, {
      name: `put ${opts.poison} poison messages on the queue`,
      act: async () => {
        const c = await amqplib.connect(config.amqp.url);
        const ch = await c.createConfirmChannel();
        for (const id of poisonIds) ch.publish(config.amqp.exchange, config.amqp.routingKey, Buffer.from(`{"poison": "${id}"}`), { persistent: true, messageId: id });
        await ch.waitForConfirms();
        await c.close();
      },
    });

    let sent = 0;
    let finished = 0;
    const faultRunner = (async () => {
      for (const [k, fault] of faults.entries()) {
        const at = Math.floor(((k + 1) / (faults.length + 1)) * opts.signups);
        while (finished < at) await sleep(50);
        log(`fault ${k + 1}/${faults.length} at ${finished} answered: ${fault.name}`);
        const duringLoad = !loadFinished;
        if (duringLoad) faultsDuringLoad++;
        await fault.act();
        faultsDone.push(`${fault.name} (at ${at} answered${duringLoad ? '' : ', AFTER the load'})`);
        log(`fault ${k + 1} done`);
      }
    })();

    const started = Date.now();
    const client = async () => {
      for (;;) {
        const i = sent++;
        if (i >= opts.signups) return;
        const due = started + (i / opts.rate) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
        const bad = i % opts.badEvery === 7;
        const email = `chaos-${suffix}-${i}@example.com`;
        const { body, contentType } = bad
          ? badBody(i)
          : { body: JSON.stringify({ email, first_name: 'Chaos', last_name: `Monkey ${i}`, password: `pw-${randomUUID()}` }), contentType: 'application/json' };
        // Like a load balancer: a refused connection (nothing sent) goes to the next API.
        let answer: Answer | undefined;
        for (let attempt = 0; attempt < apiPorts.length && !answer; attempt++) {
          const port = apiPorts[(i + attempt) % apiPorts.length];
          try {
            const res = await fetch(`http://127.0.0.1:${port}/signup`, { method: 'POST', headers: { 'content-type': contentType }, body, signal: AbortSignal.timeout(30_000) });
            const json = (await res.json().catch(() => ({}))) as { user_id?: string; service?: string };
            answer = { i, bad, email: bad ? undefined : email, status: res.status, userId: res.status === 202 ? json.user_id : undefined, retryAfter: res.headers.get('retry-after'), service: json.service };
          } catch (err) {
            const refused = (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
            if (!refused || attempt === apiPorts.length - 1) {
              answer = { i, bad, email: bad ? undefined : email, status: 0, error: refused ? 'refused' : (err as Error).message };
            }
          }
        }
        answers.push(answer as Answer);
        finished++;
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, client));
    loadFinished = true;
    const loadSeconds = (Date.now() - started) / 1000;
    await faultRunner;
    log(`load done in ${loadSeconds.toFixed(1)} s; ${faultsDone.length} faults injected; settling`);

    // Settle: every accepted signup is a row or a dead letter, and the poison has arrived.
    const accepted = answers.filter((a) => a.status === 202 && a.userId);
    const acceptedIds = new Set(accepted.map((a) => a.userId as string));
    const readState = async () => {
      const db = new Client({ connectionString: config.postgres.url });
      await db.connect();
      const { rows } = await db.query<{ user_id: string; email: string; onboarding_state: string }>('SELECT user_id, email, onboarding_state FROM users');
      await db.end();
      const c = await amqplib.connect(config.amqp.url);
      const ch = await c.createChannel();
      const letters = (await takeAll(ch, config.amqp.deadLetterQueue)).map(classifyDeadLetter);
      await ch.close();
      await c.close();
      return { rows, letters };
    };
    let state = await readState();
    const settleDeadline = Date.now() + opts.settleSeconds * 1000;
    for (;;) {
      const settled = new Set([
        ...state.rows.filter((r) => r.onboarding_state === 'COMPLETED').map((r) => r.user_id),
        ...state.letters.map((l) => l.id),
      ]);
      const pending = [...acceptedIds].filter((id) => !settled.has(id)).length;
      const poisonIn = state.letters.filter((l) => poisonIds.includes(l.id)).length;
      if (pending === 0 && poisonIn === poisonIds.length) break;
      if (Date.now() > settleDeadline) {
        log(`settle timed out with ${pending} accepted signups unsettled`);
        break;
      }
      await sleep(1_000);
      state = await readState();
    }

    // The account.
    const rowIds = new Map(state.rows.map((r) => [r.user_id, r]));
    const dlqCount = new Map<string, number>();
    for (const l of state.letters) dlqCount.set(l.id, (dlqCount.get(l.id) ?? 0) + 1);
    const lost = [...acceptedIds].filter((id) => !rowIds.has(id) && !dlqCount.has(id));
    const emailRows = new Map<string, number>();
    for (const r of state.rows) emailRows.set(r.email, (emailRows.get(r.email) ?? 0) + 1);
    const duplicates = [
      ...[...emailRows].filter(([, n]) => n > 1).map(([email]) => `more than one row for ${email}`),
      ...[...acceptedIds].filter((id) => rowIds.has(id) && dlqCount.has(id)).map((id) => `row and DLQ copy for ${id}`),
      ...[...dlqCount].filter(([, n]) => n > 1).map(([id]) => `${dlqCount.get(id)} DLQ copies of ${id}`),
    ];
    const byStatus: Record<string, number> = {};
    for (const a of answers) byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
    const dlqByReason: Record<string, number> = {};
    for (const l of state.letters) dlqByReason[l.reason] = (dlqByReason[l.reason] ?? 0) + 1;
    const unexpected5xx = answers.filter((a) => a.status >= 500 && a.status !== 503).length;
    const unavailableWithoutRetryAfter = answers.filter((a) => a.status === 503 && !a.retryAfter).length;
    const badAccepted = answers.filter((a) => a.bad && a.status >= 200 && a.status < 300).length;
    // A request without an answer (status 0) is harmless if the API never took it: refused while
    // no API listened, or reset before the API read it (a connection still in the listen queue
    // when a draining API stops listening). It is a broken promise if the API accepted it: a user
    // row for it means the signup happened and its 2xx was lost. No fault here excuses that.
    const refusedConnections = answers.filter((a) => a.status === 0 && a.error === 'refused').length;
    const unanswered = answers.filter((a) => a.status === 0 && a.error !== 'refused');
    const rowEmails = new Set(state.rows.map((r) => r.email));
    const answersLost = unanswered.filter((a) => a.email !== undefined && rowEmails.has(a.email)).length;
    const rowsNotAccepted = state.rows.filter((r) => !acceptedIds.has(r.user_id)).length;
    const crashes = everything.flatMap((p) => p.crashes);
    const account = {
      run: suffix,
      signups_sent: answers.length,
      load_seconds: loadSeconds,
      answered_2xx: accepted.length,
      answers_by_status: byStatus,
      unavailable_503_by_service: answers.filter((a) => a.status === 503).reduce<Record<string, number>>((m, a) => ((m[a.service ?? '?'] = (m[a.service ?? '?'] ?? 0) + 1), m), {}),
      user_rows: state.rows.length,
      user_rows_completed: state.rows.filter((r) => r.onboarding_state === 'COMPLETED').length,
      dlq_messages: state.letters.length,
      dlq_by_reason: dlqByReason,
      poison_sent: poisonIds.length,
      lost: lost.length,
      duplicates: duplicates.length,
      rows_without_a_2xx: rowsNotAccepted,
      bad_bodies_accepted: badAccepted,
      unexpected_5xx: unexpected5xx,
      unavailable_without_retry_after: unavailableWithoutRetryAfter,
      refused_connections: refusedConnections,
      unanswered_requests: unanswered.length,
      answers_lost: answersLost,
      faults: faultsDone,
      faults_started_during_load: `${faultsDuringLoad}/${faults.length}`,
      process_crashes: crashes,
      lost_ids: lost.slice(0, 20),
      duplicate_details: duplicates.slice(0, 20),
    };
    const ok =
      lost.length === 0 &&
      duplicates.length === 0 &&
      unexpected5xx === 0 &&
      unavailableWithoutRetryAfter === 0 &&
      badAccepted === 0 &&
      crashes.length === 0 &&
      answersLost === 0 &&
      faultsDuringLoad === faults.length &&
      accepted.length > 0 &&
      (dlqByReason.poison ?? 0) === poisonIds.length;
    process.stdout.write(
      [
        '',
        `chaos account (run ${suffix})`,
        `  signups sent              ${answers.length} in ${loadSeconds.toFixed(1)} s (${JSON.stringify(byStatus)})`,
        `  answered 2xx              ${accepted.length}`,
        `  user rows                 ${state.rows.length} (${account.user_rows_completed} COMPLETED)`,
        `  DLQ messages              ${state.letters.length} ${JSON.stringify(dlqByReason)}`,
        `  lost                      ${lost.length}`,
        `  duplicates                ${duplicates.length}`,
        `  rows without a 2xx        ${rowsNotAccepted} (a 503 whose publish the broker confirmed late)`,
        `  bad bodies accepted       ${badAccepted}`,
        `  unexpected 5xx            ${unexpected5xx}`,
        `  answers lost              ${answersLost} (accepted, but the 2xx never reached the client; ` +
          `${unanswered.length} other requests unanswered and not taken, ${refusedConnections} refused while no API listened)`,
        `  process crashes           ${crashes.length}`,
        `  faults                    ${faultsDuringLoad}/${faults.length} started during the load: ${faultsDone.join('; ')}`,
        `  503 by service            ${JSON.stringify(account.unavailable_503_by_service)}`,
        ok ? 'RESULT: PASS' : 'RESULT: FAIL',
        '',
      ].join('\n'),
    );
    if (opts.json) writeFileSync(opts.json, JSON.stringify(account, null, 2));
    exitCode = ok ? 0 : 1;
    if (!ok) {
      for (const p of everything) {
        const tail = readFileSync(join(tmp, `${p.name === 'temporal' ? 'temporal' : p.name}.log`), 'utf8').split('\n').slice(-15).join('\n');
        log(`--- last lines of ${p.name} ---\n${tail}`);
      }
    }
  } finally {
    await Promise.all([...apis, ...workers].map((p) => (p.child ? p.stop() : undefined)));
    if (temporal.child) await temporal.stop('SIGTERM', 10_000);
    // Leave the shared services as we found them, whatever happened.
    await run('rabbitmqctl', ['start_app']).catch(() => undefined);
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', pgVersion, 'main', 'start']).catch(() => undefined);
    await dropRunResources(config).catch((err: Error) => log(`cleanup: ${err.message}`));
    if (exitCode === 0) rmSync(tmp, { recursive: true, force: true });
  }
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    log(`failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
