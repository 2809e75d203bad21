import pino, { type DestinationStream, type Logger } from 'pino';
import { traceLogMixin } from './telemetry/tracing';

export type { Logger };

/** Paths never written to a log as they are, whatever a caller passes in. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'password_hash',
  '*.password_hash',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  // Masked, not removed: the domain and first letter are enough to tell users apart in an incident.
  'email',
  '*.email',
];

/** `ada@example.com` → `a***@example.com`; anything that is not an address becomes `***`. */
export function maskEmail(value: unknown): string {
  if (typeof value !== 'string') return '***';
  const at = value.lastIndexOf('@');
  if (at < 1) return '***';
  return `${value[0]}***${value.slice(at)}`;
}

function censor(value: unknown, path: string[]): unknown {
  return path[path.length - 1] === 'email' ? maskEmail(value) : '[redacted]';
}

/**
 * A pino logger with our redaction. Made after tracing has started, each line carries the
 * active span's trace_id and span_id; made while tracing is off, it has no mixin at all.
 */
export function createLogger(opts: { name: string; level: string; pretty?: boolean; destination?: DestinationStream }): Logger {
  const traceFields = traceLogMixin();
  const options: pino.LoggerOptions = {
    name: opts.name,
    level: opts.level,
    redact: { paths: REDACTED_PATHS, censor },
    ...(traceFields && { mixin: traceFields }),
    ...(opts.pretty && !opts.destination ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/**
 * A URL with its query string replaced: `/verify?token=…` → `/verify?[redacted]`. Query strings
 * carry verification tokens, so no log line gets one.
 */
export function redactQueryString(url: unknown): unknown {
  if (typeof url !== 'string') return url;
  const question = url.indexOf('?');
  return question === -1 ? url : `${url.slice(0, question)}?[redacted]`;
}

/**
 * pino-http's request serializer, applied after its own: the URL and the Referer without their
 * query strings, and the parsed query not at all.
 */
export function redactedRequest(req: Record<string, unknown> & { headers?: Record<string, unknown> }): Record<string, unknown> {
  const { query: _query, ...rest } = req;
  const headers = req.headers && 'referer' in req.headers ? { ...req.headers, referer: redactQueryString(req.headers.referer) } : req.headers;
  return { ...rest, url: redactQueryString(req.url), headers };
}
