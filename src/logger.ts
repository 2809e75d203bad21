import pino, { type Logger } from 'pino';

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

export function createLogger(opts: { name: string; level: string; pretty?: boolean }): Logger {
  return pino({
    name: opts.name,
    level: opts.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(opts.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
}
