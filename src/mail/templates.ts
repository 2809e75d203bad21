/** The verification mails: a plain-text part and an HTML part with the same words and link. */
import type { OutgoingMail } from './mailer';

export type VerificationMailKind = 'verification' | 'reminder' | 'resend';

export interface VerificationMailInput {
  kind: VerificationMailKind;
  to: string;
  firstName: string;
  link: string;
  expiresAt: Date;
}

/** Each kind's subject; the chaos run tells the kinds apart by it. */
export const VERIFICATION_MAIL_SUBJECTS: Record<VerificationMailKind, string> = {
  verification: 'Confirm your e-mail address',
  reminder: 'Reminder: confirm your e-mail address',
  resend: 'Your new link to confirm your e-mail address',
};

const INTROS: Record<VerificationMailKind, string> = {
  verification: 'Thanks for signing up. Please confirm that this is your e-mail address.',
  reminder: 'You signed up a while ago but have not confirmed your e-mail address yet.',
  resend: 'Here is the new link you asked for.',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

export function verificationMail({ kind, to, firstName, link, expiresAt }: VerificationMailInput): OutgoingMail {
  const until = expiresAt.toUTCString();
  const earlier = kind === 'verification' ? '' : ' Links in earlier mails no longer work.';
  const text = [
    `Hello ${firstName},`,
    '',
    INTROS[kind],
    '',
    'Open this link and press the button on the page:',
    link,
    '',
    `The link works once, until ${until}.${earlier}`,
    '',
    'If you did not sign up, ignore this mail and nothing will happen.',
  ].join('\n');
  const html = `<!doctype html>
<html lang="en"><body>
<p>Hello ${escapeHtml(firstName)},</p>
<p>${escapeHtml(INTROS[kind])}</p>
<p><a href="${escapeHtml(link)}">Confirm my e-mail address</a></p>
<p>Or copy this link into your browser:<br>${escapeHtml(link)}</p>
<p>The link works once, until ${escapeHtml(until)}.${escapeHtml(earlier)}</p>
<p>If you did not sign up, ignore this mail and nothing will happen.</p>
</body></html>`;
  return { to, subject: VERIFICATION_MAIL_SUBJECTS[kind], text, html };
}

/** "Someone tried to sign up with your address": sent to the owner of a registered address (accepted mode). */
export function duplicateSignupMail({ to, firstName }: { to: string; firstName: string }): OutgoingMail {
  const subject = 'Someone tried to sign up with your e-mail address';
  const lines = [
    'Someone, maybe you, just tried to create an account with this e-mail address.',
    'You already have an account with it, so no new account was created.',
    'If this was you, there is nothing to do. If it was not, you can ignore this mail: your account has not changed.',
  ];
  const text = [`Hello ${firstName},`, '', ...lines.flatMap((line) => [line, '']), 'This is an automatic notice; you will get at most a few of them a day.'].join('\n');
  const html = `<!doctype html>
<html lang="en"><body>
<p>Hello ${escapeHtml(firstName)},</p>
${lines.map((line) => `<p>${escapeHtml(line)}</p>`).join('\n')}
<p>This is an automatic notice; you will get at most a few of them a day.</p>
</body></html>`;
  return { to, subject, text, html };
}
