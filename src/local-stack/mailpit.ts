/**
 * Mailpit, the SMTP server that catches every mail in development and the tests. Built once with
 * `go install` like the Temporal CLI. Such a build has no web pages (their assets are made by npm
 * in Mailpit's own repository and are not in the Go module); the HTTP API works, and the tests
 * read mail through it: GET /api/v1/search?query=to:ADDRESS, GET /api/v1/message/ID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ensureGoTool, type GoTool } from './go-tools';

export const MAILPIT: GoTool = {
  name: 'mailpit',
  module: 'github.com/axllent/mailpit',
  version: 'v1.33.1',
  binary: 'mailpit',
  overrideVar: 'MAILPIT_BIN',
  pathName: 'mailpit',
};

export const ensureMailpit = (log?: (line: string) => void) => ensureGoTool(MAILPIT, log);

export interface MailpitOptions {
  smtpPort: number;
  httpPort: number;
  /** Where Mailpit keeps the mail; without it, a temporary database that goes with the process. */
  dbFile?: string;
  ip?: string;
  /** The most messages kept before the oldest are pruned (Mailpit's default: 500); 0 keeps every one. */
  maxMessages?: number;
}

/** The same arguments for `npm start` (1025 and 8025) and the tests (free ports). */
export function mailpitArgs(o: MailpitOptions): string[] {
  const ip = o.ip ?? '127.0.0.1';
  return [
    '--smtp', `${ip}:${o.smtpPort}`,
    '--listen', `${ip}:${o.httpPort}`,
    // Local only: no STARTTLS or login needed, and no call home for a newer version.
    '--smtp-auth-accept-any',
    '--smtp-auth-allow-insecure',
    '--disable-version-check',
    '--quiet',
    ...(o.dbFile ? ['--database', o.dbFile] : []),
    ...(o.maxMessages !== undefined ? ['--max', String(o.maxMessages)] : []),
  ];
}

export const MAILPIT_DEFAULT_SMTP_PORT = 1025;
export const MAILPIT_DEFAULT_HTTP_PORT = 8025;

/** True if something accepts TCP connections on 127.0.0.1:port now. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * `npm start` without SMTP_URL: runs Mailpit on 1025/8025 with its mail kept in `dataDir` (or uses
 * the SMTP server already there), sets env.SMTP_URL to it and says where to read the mail.
 * Returns the process it started, in a process group of its own, or null.
 */
export async function startLocalMailpit(dataDir: string, env: NodeJS.ProcessEnv, say: (line: string) => void): Promise<ChildProcess | null> {
  const api = `http://127.0.0.1:${MAILPIT_DEFAULT_HTTP_PORT}/api/v1/messages`;
  const where = `read them at ${api} (a go-install build of Mailpit has no web pages; see docs/verification.md)`;
  env.SMTP_URL = `smtp://127.0.0.1:${MAILPIT_DEFAULT_SMTP_PORT}`;
  if (await listening(MAILPIT_DEFAULT_SMTP_PORT)) {
    say(`mail goes to the SMTP server already on ${env.SMTP_URL}; if it is a Mailpit, ${where}`);
    return null;
  }
  mkdirSync(dataDir, { recursive: true });
  const args = mailpitArgs({ smtpPort: MAILPIT_DEFAULT_SMTP_PORT, httpPort: MAILPIT_DEFAULT_HTTP_PORT, dbFile: join(dataDir, 'mailpit.db') });
  const child = spawn(ensureMailpit(say), args, { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  const deadline = Date.now() + 30_000;
  while (!(await listening(MAILPIT_DEFAULT_SMTP_PORT))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Mailpit did not start on ${env.SMTP_URL}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  say(`Mailpit catches the mail on ${env.SMTP_URL}; ${where}`);
  return child;
}
