/**
 * Everything of OpenTelemetry the service loads, and only when tracing is on: required lazily
 * by ./tracing. One SDK per process (@opentelemetry/sdk-node), the http, express, pg and amqplib
 * instrumentations, and Temporal's interceptors for the client, the activities and (through a
 * sink) the workflow sandbox, all exporting through the one span processor.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { Resource } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import { version } from '../../package.json';
import type { TraceLogFields, Tracing } from './tracing';

/** Probes and scrapes: frequent, and nothing to follow. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export interface OpenTelemetryOptions {
  serviceName: string;
  otlpTracesUrl: string | undefined;
  /** Instead of the OTLP exporter (tests). */
  exporter?: SpanExporter;
}

export function startOpenTelemetry(opts: OpenTelemetryOptions): { tracing: Tracing; activeSpanLogFields: () => TraceLogFields } {
  const resource = Resource.default().merge(new Resource({ 'service.name': opts.serviceName, 'service.version': version }));
  const processor = new BatchSpanProcessor(opts.exporter ?? new OTLPTraceExporter({ url: opts.otlpTracesUrl }));
  const instrumentations = [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has((req.url ?? '').split('?')[0]),
      requireParentforOutgoingSpans: true,
    }),
    // The route handlers only: a span per middleware and router (a dozen per request) says little
    // that the request's own span does not.
    new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE, ExpressLayerType.ROUTER] }),
    // Never the query's parameters (enhancedDatabaseReporting stays off): they hold e-mails and
    // names. Only queries inside a traced request or run; not the pool's own housekeeping.
    new PgInstrumentation({ requireParentSpan: true }),
    new AmqplibInstrumentation(),
  ];
  const sdk = new NodeSDK({
    resource,
    // The resource is ours alone: the workflow spans, exported through the sink, carry the same.
    autoDetectResources: false,
    spanProcessors: [processor],
    // Traces only: no OpenTelemetry logs (ours go through pino) and no metrics (Prometheus has them).
    logRecordProcessors: [],
    instrumentations,
  });
  sdk.start();

  const tracing: Tracing = {
    workflowClientInterceptors: [new OpenTelemetryWorkflowClientInterceptor()],
    activityInterceptors: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx) })],
    // The workflow interceptors (workflows/interceptors.ts) make their spans in the sandbox and
    // hand them out through this sink, into the same processor as every other span.
    workflowSinks: { exporter: makeWorkflowExporter(processor, resource) },
    flush: () => processor.forceFlush(),
    async shutdown() {
      await sdk.shutdown();
      for (const instrumentation of instrumentations) instrumentation.disable();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
  return { tracing, activeSpanLogFields };
}

// A new object every time: pino merges the line's fields into what the mixin returns.
function activeSpanLogFields(): TraceLogFields {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
