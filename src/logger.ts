import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Paths never written to a log, whatever a caller passes in. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'password_hash',
  '*.password_hash',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** `destination` (stdout if absent) lets a test read every line the service writes, redaction included. */
export function createLogger(opts: { name: string; level: string; pretty?: boolean; destination?: DestinationStream }): Logger {
  const options = {
    name: opts.name,
    level: opts.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(opts.pretty && !opts.destination ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
