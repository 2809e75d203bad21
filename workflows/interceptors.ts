/**
 * The workflow interceptors of the traced bundle (dist/workflow-bundle-traced.js), which the worker
 * runs only when tracing is on: a span for the run and one per activity it schedules, local
 * ones included, each passing its context on in headers. They run in the sandbox and add no
 * commands to history (the SDK's flags keep their replay alike for histories made by SDK 1.13.2
 * and later), so a run may move between traced and untraced workers.
 */
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [new OpenTelemetryInboundInterceptor()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
