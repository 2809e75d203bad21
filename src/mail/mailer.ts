/**
 * Sends mail over SMTP with nodemailer. In production SMTP_URL names the operator's provider
 * (smtps:// or STARTTLS, credentials in the URL); in development and the tests, a Mailpit.
 */
import nodemailer from 'nodemailer';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  /** Resolves once the SMTP server has accepted the message; rejects on any failure (the caller retries). */
  send(mail: OutgoingMail): Promise<{ messageId: string }>;
  close(): void;
}

export interface MailerOptions {
  smtpUrl: string;
  /** The From header, e.g. `Onboarding <no-reply@example.com>`. */
  from: string;
}

// Short enough that an attempt against a dead server fails well inside the activity's own timeout.
const CONNECTION_TIMEOUT_MS = 10_000;
const GREETING_TIMEOUT_MS = 10_000;
const SOCKET_TIMEOUT_MS = 30_000;

export function createMailer({ smtpUrl, from }: MailerOptions): Mailer {
  const transport = nodemailer.createTransport(
    {
      url: smtpUrl,
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      greetingTimeout: GREETING_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
      // nodemailer's own logger would print addresses and message bodies.
      logger: false,
      debug: false,
    },
    { from },
  );
  return {
    async send(mail) {
      const info = await transport.sendMail(mail);
      return { messageId: info.messageId };
    },
    close: () => transport.close(),
  };
}
