/**
 * One trace per signup. test/support/traced-signup.ts runs the API, the publisher, the bridge
 * and the worker (startPipeline) against the real Postgres, RabbitMQ and a Temporal dev server,
 * with tracing started by startTracing, as the entry points start it, exporting to memory, and
 * sends one signup through. This test asserts the span tree of that signup, from POST /signup
 * through the publish, the consume, the workflow start, the run and each (local) activity to
 * its SQL, every parent link included, and that log lines carry its ids. It runs in a Node
 * process of its own, as nothing can be instrumented in a jest process (see traced-signup.ts).
 * Then the entry points themselves: without OTEL_EXPORTER_OTLP_ENDPOINT they load nothing of
 * OpenTelemetry; with it they start tracing before express, pg and amqplib are loaded.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { type Env, loadConfig } from '../../src/config';
import { request } from '../support/pipeline';
import { startTemporal } from '../support/stack';
import type { SpanRecord, TracedSignup } from '../support/traced-signup';
import { untilOnboarded } from '../support/users';
import { DIST } from '../harness/dist';
import { runEnv, uniqueSuffix } from '../harness/env';
import { freePort } from '../harness/free-port';
import { distProcess, type ManagedProcess } from '../harness/managed-process';
import { dropRunResources } from '../harness/run-resources';
import { eventually } from '../harness/wait';

/** Runs a compiled script with `node [nodeArgs] dist/<script> [args]`; rejects with its output unless it exits 0. */
function runNode(nodeArgs: string[], script: string, args: string[], env: Env): Promise<string> {
  const child = spawn(process.execPath, [...nodeArgs, join(DIST, script), ...args], { env: { ...env, PATH: process.env.PATH, HOME: process.env.HOME } });
  let stdout = '';
  let output = '';
  child.stdout.on('data', (chunk) => ((stdout += chunk), (output += chunk)));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${script} exited ${code}:\n${output}`))));
  });
}

// SpanKind of @opentelemetry/api, by number.
const KIND = ['internal', 'server', 'client', 'producer', 'consumer'];
// A pool checkout opens a connection only when the pool has no idle one: not the same every run.
const POOL_SPANS = new Set(['pg-pool.connect', 'pg.connect']);

/**
 * A trace as indented lines, `name (kind)`, one root after another (a span whose parent is not
 * in the trace is a root). Siblings are sorted by their whole block: the workflow's spans carry
 * the time of their workflow task, so start times do not order them.
 */
function spanTree(spans: SpanRecord[]): string {
  const ids = new Set(spans.map((s) => s.spanId));
  const isRoot = (span: SpanRecord) => !span.parentSpanId || !ids.has(span.parentSpanId);
  const blocks = (span: SpanRecord, depth: number): string[] => {
    // Pool spans leave the tree; what ran under them moves up to their parent.
    const pooled = POOL_SPANS.has(span.name);
    const below = spans
      .filter((s) => s.parentSpanId === span.spanId)
      .flatMap((child) => blocks(child, pooled ? depth : depth + 1))
      .sort();
    const kind = span.kind === 0 ? '' : ` (${KIND[span.kind]})`;
    return pooled ? below : [[`${'  '.repeat(depth)}${span.name}${kind}`, ...below].join('\n')];
  };
  return spans
    .filter(isRoot)
    .flatMap((root) => blocks(root, 0))
    .sort()
    .join('\n');
}

describe('one signup, one trace', () => {
  let run: TracedSignup;
  let trace: SpanRecord[];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'traced-signup-'));
    try {
      // TEMPORAL_CLI, set by the jest global setup, for the dev server.
      await runNode([], 'test/support/traced-signup.js', [join(dir, 'out.json')], { TEMPORAL_CLI: process.env.TEMPORAL_CLI });
      run = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The signup's trace: the one its publish span, which names the message, belongs to.
    const publish = run.spans.find((s) => s.name.startsWith('publish ') && s.attributes['messaging.message_id'] === run.userId);
    trace = run.spans.filter((s) => s.traceId === publish?.traceId);
  });

  const span = (name: string) => trace.find((s) => s.name === name)!;

  it('follows POST /signup through RabbitMQ and the workflow to the insert, with each parent link', () => {
    const { exchange, queue, database: db } = run.names;
    // The signup's own tree. The verification run it starts goes on in the same trace, but its
    // run span ends only when a person verifies, so its activities show here as roots of their own.
    const lines = spanTree(trace).split('\n');
    const end = lines.findIndex((line, i) => i > 0 && !line.startsWith(' '));
    expect((end === -1 ? lines : lines.slice(0, end)).join('\n')).toBe(
      [
        'POST /signup (server)',
        // The shared rate limit: one upsert of its counter in Postgres.
        '  request handler',
        `    pg.query:INSERT ${db} (client)`,
        '  request handler',
        `    pg.query:INSERT ${db} (client)`,
        `    pg.query:SELECT ${db} (client)`,
        `    publish ${exchange} (producer)`,
        `      ${queue} process (consumer)`,
        '        StartWorkflow:onboardUser',
        '          RunWorkflow:onboardUser',
        '            StartActivity:persistUser',
        '              RunActivity:persistUser',
        // One transaction: the user's lock, the tombstone check (erasure), the insert, the row read back.
        `                pg.query:BEGIN ${db} (client)`,
        `                pg.query:COMMIT ${db} (client)`,
        `                pg.query:INSERT ${db} (client)`,
        `                pg.query:SELECT ${db} (client)`,
        `                pg.query:SELECT ${db} (client)`,
        '            StartChildWorkflow:verifyEmail',
      ].join('\n'),
    );
    // The publishing handler is POST /signup's own; the row the run inserts is the user's.
    const publishedBy = trace.find((s) => s.spanId === span(`publish ${exchange}`).parentSpanId)!;
    expect(publishedBy.attributes).toMatchObject({ 'http.route': '/signup', 'express.type': 'request_handler' });
    // The limiter's handler counts the request in the shared table before the route runs.
    const counted = trace.filter((s) => s.name.startsWith('pg.query:INSERT') && /rate_limit_counters/.test(String(s.attributes['db.statement'])));
    expect(counted).toHaveLength(1);
    const persist = span('RunActivity:persistUser');
    const insert = trace.find((s) => s.parentSpanId === persist.spanId && s.name.startsWith('pg.query:INSERT'))!;
    expect(insert.attributes['db.statement']).toMatch(/^INSERT INTO users /);
    expect(persist.attributes).toMatchObject({ temporalWorkflowId: `onboard-user-${run.userId}` });
  });

  it('records statements, never values: no e-mail, name or hash in any span', () => {
    const attributes = JSON.stringify(run.spans.map((s) => s.attributes));
    expect(attributes).toContain('INSERT INTO users');
    expect(attributes).not.toMatch(/trace-\d+@example\.com|Lovelace|\$argon2id/);
  });

  it('gives log lines the trace_id and span_id of the span they were written in', () => {
    const traceId = span('POST /signup').traceId;
    const lineOf = (msg: string) => run.logLines.find((l) => l.msg === msg && l.user_id === run.userId);
    expect(lineOf('signup received; starting or attaching to its onboarding run')).toMatchObject({
      trace_id: traceId,
      span_id: span(`${run.names.queue} process`).spanId,
    });
    expect(lineOf('user onboarded: row written COMPLETED')).toMatchObject({ trace_id: traceId, span_id: span('RunActivity:persistUser').spanId });
  });
});

type LibraryState = 'not loaded' | 'unpatched' | 'patched';
interface EntryPointModules {
  /**
   * How many modules of OpenTelemetry's SDK, exporters and instrumentations, and of Temporal's
   * interceptors, are loaded. Not @opentelemetry/api: prom-client loads it for itself, and with no
   * SDK registered it is a facade whose calls do nothing.
   */
  opentelemetry: number;
  /** The libraries whose instrumentation patches them only if tracing started before they were loaded. */
  libraries: Record<'express' | 'pg' | 'amqplib', LibraryState>;
}

// Runs an entry point with Node's require and, once it first waits on the network (all its
// imports loaded, main() started), prints what it has loaded and exits.
const PROBE = `
setImmediate(() => {
  const loaded = Object.keys(require.cache);
  const exportsOf = (file) => require.cache[loaded.find((path) => path.endsWith(file))]?.exports;
  const state = (exports, fn) => (exports === undefined ? 'not loaded' : fn(exports)?.__wrapped ? 'patched' : 'unpatched');
  process.stdout.write(JSON.stringify({
    opentelemetry: loaded.filter((path) => /[/]node_modules[/]@(opentelemetry[/](?!api[/])|temporalio[/]interceptors-opentelemetry[/])/.test(path)).length,
    libraries: {
      express: state(exportsOf('/node_modules/express/index.js'), (e) => e.application.use),
      pg: state(exportsOf('/node_modules/pg/lib/index.js'), (e) => e.Client.prototype.query),
      amqplib: state(exportsOf('/node_modules/amqplib/lib/channel_model.js'), (e) => e.Channel.prototype.consume),
    },
  }));
  process.exit(0);
});
require(require('node:path').resolve(process.argv[1]));
`;

async function modulesLoadedBy(entryPoint: string, env: Env): Promise<EntryPointModules> {
  return JSON.parse(await runNode(['-e', PROBE], entryPoint, [], env));
}

describe('the entry points', () => {
  let env: Env;
  beforeAll(async () => {
    // A valid configuration; the probe exits before anything connects or is created.
    env = runEnv('test', uniqueSuffix(), { TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${await freePort()}` });
  });

  it('load no OpenTelemetry without OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    const api = await modulesLoadedBy('src/api/main.js', env);
    expect(api).toEqual({ opentelemetry: 0, libraries: { express: 'unpatched', pg: 'unpatched', amqplib: 'unpatched' } });
    const worker = await modulesLoadedBy('src/worker/main.js', env);
    expect(worker.opentelemetry).toBe(0);
    expect(worker.libraries).toMatchObject({ pg: 'unpatched', amqplib: 'unpatched' });
  });

  it('start tracing with OTEL_EXPORTER_OTLP_ENDPOINT before express, pg and amqplib are loaded', async () => {
    const traced = { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
    const api = await modulesLoadedBy('src/api/main.js', traced);
    expect(api.opentelemetry).toBeGreaterThan(0);
    expect(api.libraries).toEqual({ express: 'patched', pg: 'patched', amqplib: 'patched' });
    const worker = await modulesLoadedBy('src/worker/main.js', traced);
    expect(worker.opentelemetry).toBeGreaterThan(0);
    expect(worker.libraries).toMatchObject({ pg: 'patched', amqplib: 'patched' });
  });
});

describe('the entry points with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  // An OTLP/HTTP receiver that keeps the body of each export. Protobuf stores strings and the
  // 16 bytes of a trace id as they are, so a body can be searched without decoding it.
  const bodies: Buffer[] = [];
  let receiver: Server;
  let temporal: TestWorkflowEnvironment;
  let dir: string;
  let env: Env;
  let api: ManagedProcess;
  let worker: ManagedProcess;
  let apiBase: string;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/v1/traces') bodies.push(Buffer.concat(chunks));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    temporal = await startTemporal();
    dir = mkdtempSync(join(tmpdir(), 'tracing-entry-points-'));
    const [apiPort, workerPort, sdkMetricsPort] = [await freePort(), await freePort(), await freePort()];
    env = runEnv('test', uniqueSuffix(), {
      LOG_LEVEL: 'info',
      PORT: String(apiPort),
      WORKER_HTTP_PORT: String(workerPort),
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${sdkMetricsPort}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
    });
    const processEnv = { ...env, PATH: process.env.PATH, HOME: process.env.HOME };
    const ready = (base: string, proc: ManagedProcess) =>
      eventually(async () => {
        if (!proc.running) throw new Error(`${proc.name} exited: see ${proc.logFile}`);
        return (await request(base, 'GET', '/readyz')).status === 200;
      }, 60_000, `${proc.name} to be ready`);
    // The worker first: it registers the search attribute.
    worker = distProcess('worker', 'src/worker/main.js', processEnv, dir).start();
    await ready(`http://127.0.0.1:${workerPort}`, worker);
    api = distProcess('api', 'src/api/main.js', processEnv, dir).start();
    apiBase = `http://127.0.0.1:${apiPort}`;
    await ready(apiBase, api);
  });
  afterAll(async () => {
    await api?.stop();
    await worker?.stop();
    await temporal?.teardown();
    if (env) await dropRunResources(loadConfig(env));
    receiver?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('export one trace from both processes, joined through RabbitMQ and Temporal, and flush it on SIGTERM', async () => {
    const res = await request(apiBase, 'POST', '/signup', {
      email: `trace-${uniqueSuffix()}@example.com`,
      first_name: 'Ada',
      last_name: 'Lovelace',
      password: 'correct horse battery',
    });
    expect(res.status).toBe(202);
    await untilOnboarded(apiBase, res.body.user_id);
    // Stopping drains each process, then exports what its batch still holds.
    await api.stop();
    await worker.stop();

    const apiLines = readFileSync(api.logFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
    const requestLine = apiLines.find((line) => line.msg === 'request completed' && line.req?.url === '/signup');
    expect(requestLine?.trace_id).toMatch(/^[0-9a-f]{32}$/);
    const traceId = Buffer.from(requestLine.trace_id, 'hex');
    const exportedBy = (service: string) => Buffer.concat(bodies.filter((body) => body.includes(service)));
    const missing = (exported: Buffer, names: string[]) => names.filter((name) => !exported.includes(name));
    const fromApi = exportedBy('onboarding-api');
    const fromWorker = exportedBy('onboarding-worker');
    expect(fromApi.includes(traceId)).toBe(true);
    expect(missing(fromApi, ['POST /signup', `publish ${env.AMQP_EXCHANGE}`, 'pg.query:SELECT'])).toEqual([]);
    expect(fromWorker.includes(traceId)).toBe(true);
    expect(
      missing(fromWorker, [`${env.AMQP_QUEUE} process`, 'StartWorkflow:onboardUser', 'RunWorkflow:onboardUser', 'RunActivity:persistUser', 'pg.query:INSERT']),
    ).toEqual([]);
  });
});
