/**
 * The small HTML pages of the verification link: plain HTML, one form, no script at all, so
 * helmet's Content-Security-Policy stays as it is (its default allows the inline style).
 */
import type { Response } from 'express';
import { escapeHtml } from '../mail/templates';

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}' +
  'button{font:inherit;padding:.6rem 1.4rem;border:0;border-radius:.3rem;background:#1d4ed8;color:#fff;cursor:pointer}';

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

export function sendPage(res: Response, status: number, html: string): void {
  // Every answer here is about one token: never cached, by the browser or anything between.
  res.status(status).set('Cache-Control', 'no-store').type('html').send(html);
}

/** The page the link opens. Opening it changes nothing: only the button does. */
export function confirmationPage(token: string): string {
  // `verify`, relative: right also when the service is published under a path prefix.
  return page(
    'Confirm your e-mail address',
    `<p>Press the button to confirm that this e-mail address is yours.</p>
<form method="post" action="verify">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<button type="submit">Confirm my e-mail address</button>
</form>`,
  );
}

export function verifiedPage(): string {
  return page('E-mail address confirmed', '<p>Thank you. Your e-mail address is verified; you can close this page.</p>');
}

export function problemPage(title: string, detail: string): string {
  return page(title, `<p>${escapeHtml(detail)}.</p>`);
}
