/**
 * A Mailpit of the test's own on free ports, read through its HTTP API (a go-install build has
 * no web pages). It can be stopped and started again on the same ports with its mail kept, to
 * play an SMTP outage.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureMailpit, listening, mailpitArgs } from '../../src/local-stack/mailpit';
import { freeLowPort } from '../harness/free-port';
import { eventually } from './stack';

export interface MailSummary {
  ID: string;
  Subject: string;
  To: Array<{ Address: string }>;
  Created: string;
}

export interface MailMessage {
  ID: string;
  Subject: string;
  From: { Name: string; Address: string };
  To: Array<{ Address: string }>;
  Text: string;
  HTML: string;
}

export class TestMailpit {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'mailpit-'));

  private constructor(
    readonly smtpPort: number,
    readonly httpPort: number,
    private readonly binary: string,
  ) {}

  static async start(): Promise<TestMailpit> {
    const mailpit = new TestMailpit(await freeLowPort(), await freeLowPort(), ensureMailpit());
    await mailpit.up();
    return mailpit;
  }

  get smtpUrl(): string {
    return `smtp://127.0.0.1:${this.smtpPort}`;
  }

  private get api(): string {
    return `http://127.0.0.1:${this.httpPort}/api/v1`;
  }

  /** Starts it (again) on the same ports and database. */
  async up(): Promise<void> {
    const args = mailpitArgs({ smtpPort: this.smtpPort, httpPort: this.httpPort, dbFile: join(this.dir, 'mail.db') });
    this.child = spawn(this.binary, args, { stdio: 'ignore' });
    await eventually(async () => ((await listening(this.smtpPort)) && (await fetch(`${this.api}/info`)).ok ? true : undefined), 30_000, 'Mailpit to listen');
  }

  /** Stops it: SMTP connections are refused until up() again. */
  async down(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  async stop(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async messagesTo(address: string): Promise<MailSummary[]> {
    const res = await fetch(`${this.api}/search?query=${encodeURIComponent(`to:"${address}"`)}`);
    if (!res.ok) throw new Error(`Mailpit search answered ${res.status}`);
    const { messages } = (await res.json()) as { messages: MailSummary[] };
    // Newest first from Mailpit; oldest first here, the order they were sent.
    return messages.sort((a, b) => a.Created.localeCompare(b.Created));
  }

  /** How many mails it holds, to anyone. */
  async messageCount(): Promise<number> {
    const res = await fetch(`${this.api}/messages?limit=1`);
    if (!res.ok) throw new Error(`Mailpit messages answered ${res.status}`);
    return ((await res.json()) as { total: number }).total;
  }

  async message(id: string): Promise<MailMessage> {
    const res = await fetch(`${this.api}/message/${id}`);
    if (!res.ok) throw new Error(`Mailpit message answered ${res.status}`);
    return (await res.json()) as MailMessage;
  }

  /** Waits until `count` mails to the address have arrived and returns them, oldest first. */
  async waitForMessages(address: string, count: number, timeoutMs = 60_000): Promise<MailMessage[]> {
    const summaries = await eventually(async () => {
      const found = await this.messagesTo(address);
      return found.length >= count ? found : undefined;
    }, timeoutMs, `${count} mail(s) to ${address}`);
    return Promise.all(summaries.map((s) => this.message(s.ID)));
  }
}

/** The verification link in a mail's plain-text part. */
export function linkIn(mail: MailMessage): string {
  const match = /https?:\/\/\S+\/verify\?token=[A-Za-z0-9_-]+/.exec(mail.Text);
  if (!match) throw new Error(`no verification link in the mail "${mail.Subject}"`);
  return match[0];
}

export function tokenIn(mail: MailMessage): string {
  return new URL(linkIn(mail)).searchParams.get('token') as string;
}
