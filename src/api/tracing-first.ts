// The API's first import: tracing (when configured) must start before main.ts's other imports
// load http, express, pg and amqplib, which OpenTelemetry instruments as they are required.
import { startTracingFromEnv } from '../telemetry/tracing';

export const tracing = startTracingFromEnv('onboarding-api');
