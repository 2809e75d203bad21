/**
 * `node dist/test/support/traced-signup.js <out.json>`: one signup through the whole service
 * (the API, the publisher, the bridge and the worker, as startPipeline runs them, against the
 * real Postgres, RabbitMQ and a Temporal dev server) in this one Node process, with tracing
 * started as the entry points start it (startTracing) but exporting to memory. Writes the
 * signup's spans and the log lines to out.json, and removes what it created.
 *
 * For test/integration/tracing.test.ts, which cannot do this in its own process: jest loads
 * modules through a registry of its own (it even replaces node:module and
 * process.getBuiltinModule for test code), so OpenTelemetry's require hook never sees express,
 * pg or amqplib there, and nothing would be instrumented.
 */
import { writeFileSync } from 'node:fs';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { startTracing } from '../../src/telemetry/tracing';
import { eventually } from '../harness/wait';

// First, as src/api/tracing-first.ts and src/worker/tracing-first.ts do for the entry points.
const exporter = new InMemorySpanExporter();
const tracing = startTracing({ tracing: { otlpTracesUrl: undefined, serviceName: undefined } }, { defaultServiceName: 'onboarding-test', exporter })!;
// Required only now, so that tracing instruments express, pg and amqplib as they are loaded.
const { request, startPipeline } = require('./pipeline') as typeof import('./pipeline');
const { capturingLogger } = require('./log-capture') as typeof import('./log-capture');

export interface SpanRecord {
  name: string;
  /** SpanKind of @opentelemetry/api: 0 internal, 1 server, 2 client, 3 producer, 4 consumer. */
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
}

export interface TracedSignup {
  userId: string;
  /** The names this run's resources had, which some span names contain. */
  names: { exchange: string; queue: string; database: string };
  /** Every span the process ended, the signup's and others (GET requests, pool checkouts). */
  spans: SpanRecord[];
  logLines: Array<Record<string, unknown>>;
}

async function main(outPath: string): Promise<void> {
  // Made after tracing has started: its lines carry the trace ids.
  const logs = capturingLogger('info');
  const p = await startPipeline({}, { tracing, logger: logs.logger });
  try {
    const res = await request(p.baseUrl, 'POST', '/signup', {
      email: `trace-${Date.now()}@example.com`,
      first_name: 'Ada',
      last_name: 'Lovelace',
      password: 'correct horse battery',
    });
    if (res.status !== 202) throw new Error(`POST /signup answered ${res.status}: ${JSON.stringify(res.body)}`);
    const userId: string = res.body.user_id;
    // The bridge writes this line and then acks, which ends the consume span, the signup's last.
    await eventually(
      async () => logs.lines().some((line) => line.msg === 'onboarding completed' && line.user_id === userId),
      60_000,
      'the bridge to complete the signup',
    );
    await tracing.flush();
    const result: TracedSignup = {
      userId,
      names: { exchange: p.config.amqp.exchange, queue: p.config.amqp.queue, database: new URL(p.config.postgres.url).pathname.slice(1) },
      spans: exporter.getFinishedSpans().map((s) => ({
        name: s.name,
        kind: s.kind,
        traceId: s.spanContext().traceId,
        spanId: s.spanContext().spanId,
        parentSpanId: s.parentSpanId,
        attributes: s.attributes,
      })),
      logLines: logs.lines(),
    };
    writeFileSync(outPath, JSON.stringify(result));
  } finally {
    await p.stop();
    await tracing.shutdown();
  }
}

main(process.argv[2]).then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`traced signup failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
