/**
 * The chaos run's mail: every message its own Mailpit received, read through Mailpit's HTTP API,
 * each verification mail mapped to its user by recipient address. The account counts the users
 * without a verification mail (there must be none), the users who got more than one (allowed only
 * where a fault could cut a send off from its recording: e-mail is at-least-once), and the mails
 * to addresses that are no user (there must be none).
 */
import { VERIFICATION_MAIL_SUBJECTS, type VerificationMailKind } from '../../../src/mail/templates';
import { sleep } from '../wait';

export interface ReceivedMail {
  id: string;
  to: string[];
  subject: string;
  /** When Mailpit received it, in ms since the epoch. */
  receivedAt: number;
}

export type MailKind = VerificationMailKind | 'other';

/** The kind of a mail, told by its subject (the templates give each kind its own). */
export function mailKind(subject: string): MailKind {
  const kinds = Object.keys(VERIFICATION_MAIL_SUBJECTS) as VerificationMailKind[];
  return kinds.find((kind) => VERIFICATION_MAIL_SUBJECTS[kind] === subject) ?? 'other';
}

const PAGE_SIZE = 1000;

interface MailpitSummary {
  ID: string;
  To: Array<{ Address: string }> | null;
  Subject: string;
  Created: string;
}

/**
 * Every message in the Mailpit, page by page. Mailpit lists the newest first, so a mail that
 * arrives while the pages are read pushes older ones onto the next page: some are read twice
 * (kept once, by id) and none is missed.
 */
export async function readMailbox(apiUrl: string): Promise<ReceivedMail[]> {
  const byId = new Map<string, ReceivedMail>();
  for (let start = 0; ; start += PAGE_SIZE) {
    const res = await fetch(`${apiUrl}/api/v1/messages?start=${start}&limit=${PAGE_SIZE}`);
    if (!res.ok) throw new Error(`Mailpit's message list answered ${res.status}`);
    const page = (await res.json()) as { total: number; messages: MailpitSummary[] };
    for (const m of page.messages) {
      byId.set(m.ID, { id: m.ID, to: (m.To ?? []).map((t) => t.Address.toLowerCase()), subject: m.Subject, receivedAt: Date.parse(m.Created) });
    }
    if (page.messages.length < PAGE_SIZE || start + PAGE_SIZE >= page.total) return [...byId.values()];
  }
}

/** The users (by address) that have no verification mail among `mails`. */
export function usersWithoutVerificationMail(userEmails: string[], mails: ReceivedMail[]): string[] {
  const mailed = new Set(mails.filter((m) => mailKind(m.subject) === 'verification').flatMap((m) => m.to));
  return userEmails.filter((email) => !mailed.has(email.toLowerCase()));
}

/**
 * Once the rows have settled, the mail may still be on its way (a send retried after an outage,
 * or after a killed worker's attempt timed out): waits until every user has a verification mail,
 * or `seconds` have passed, saying how far it got every 10 s. Returns every mail received.
 */
export async function awaitVerificationMails(apiUrl: string, userEmails: string[], seconds: number, log: (line: string) => void): Promise<ReceivedMail[]> {
  const deadline = Date.now() + seconds * 1000;
  let lastSaid = Date.now();
  let mails: ReceivedMail[] = [];
  for (;;) {
    try {
      mails = await readMailbox(apiUrl);
    } catch (err) {
      log(`mail: reading Mailpit failed: ${(err as Error).message}`);
    }
    const missing = usersWithoutVerificationMail(userEmails, mails).length;
    if (missing === 0) {
      log(`mail: all ${userEmails.length} users have their verification mail (${mails.length} mails in all)`);
      return mails;
    }
    if (Date.now() > deadline) {
      log(`mail: gave up after ${seconds} s with ${missing} of ${userEmails.length} users without a verification mail`);
      return mails;
    }
    if (Date.now() - lastSaid >= 10_000) {
      log(`mail: ${userEmails.length - missing} of ${userEmails.length} users have their verification mail (${mails.length} mails in all); waiting`);
      lastSaid = Date.now();
    }
    await sleep(2_000);
  }
}

/**
 * A stretch of time in which a fault could cut a send off from its recording, so that the run
 * sends the mail again: the earlier copy is the send whose outcome the fault lost. It may have
 * been accepted just before the fault struck (a kill lands moments after a send), while it went
 * on, or in the seconds after its end in which the worker's calls still fail (its connections to
 * Temporal or Postgres backing off).
 */
export interface CrashWindow {
  fault: string;
  from: number;
  to: number;
}

export const CRASH_WINDOW_BEFORE_MS = 10_000;
export const CRASH_WINDOW_AFTER_MS = 30_000;

export function crashWindow(fault: string, startedAt: number, endedAt: number): CrashWindow {
  return { fault, from: startedAt - CRASH_WINDOW_BEFORE_MS, to: endedAt + CRASH_WINDOW_AFTER_MS };
}

export interface MailTally {
  received: number;
  byKind: Record<MailKind, number>;
  users: number;
  /** Users (addresses) with no verification mail. */
  withoutVerificationMail: string[];
  /** Users with more than one verification mail, and the copies beyond each one's first. */
  repeated: number;
  extraCopies: number;
  /** Users with a repeated verification mail, by the crash window each earlier copy fell in. */
  repeatedByFault: Record<string, number>;
  /** Users with an earlier copy outside every crash window: a repeat no crash explains. */
  repeatedOutsideCrashWindows: string[];
  /** Mails (of any kind) to an address that is no user of the run. */
  toNonUsers: number;
}

export function mailTally(userEmails: string[], mails: ReceivedMail[], windows: CrashWindow[]): MailTally {
  const users = new Set(userEmails.map((e) => e.toLowerCase()));
  const byKind: Record<MailKind, number> = { verification: 0, reminder: 0, resend: 0, other: 0 };
  const verificationsTo = new Map<string, ReceivedMail[]>();
  for (const mail of mails) {
    const kind = mailKind(mail.subject);
    byKind[kind]++;
    if (kind !== 'verification') continue;
    for (const to of mail.to) verificationsTo.set(to, [...(verificationsTo.get(to) ?? []), mail]);
  }
  const repeatedByFault: Record<string, number> = {};
  const repeatedOutsideCrashWindows: string[] = [];
  let repeated = 0;
  let extraCopies = 0;
  for (const [to, copies] of verificationsTo) {
    if (copies.length < 2 || !users.has(to)) continue;
    repeated++;
    extraCopies += copies.length - 1;
    // Every copy but the last is a send whose outcome was lost: each must lie in a crash window.
    const earlier = [...copies].sort((a, b) => a.receivedAt - b.receivedAt).slice(0, -1);
    const inWindows = earlier.map((copy) => windows.find((w) => copy.receivedAt >= w.from && copy.receivedAt <= w.to));
    if (inWindows.some((w) => w === undefined)) repeatedOutsideCrashWindows.push(to);
    for (const fault of new Set(inWindows.flatMap((w) => (w ? [w.fault] : [])))) repeatedByFault[fault] = (repeatedByFault[fault] ?? 0) + 1;
  }
  return {
    received: mails.length,
    byKind,
    users: users.size,
    withoutVerificationMail: [...users].filter((email) => !verificationsTo.has(email)),
    repeated,
    extraCopies,
    repeatedByFault,
    repeatedOutsideCrashWindows,
    toNonUsers: mails.filter((m) => m.to.some((to) => !users.has(to))).length,
  };
}
