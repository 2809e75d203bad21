/**
 * `npm run compose:env`: writes the secrets `docker compose up` needs into .env (gitignored,
 * mode 0600), once. Compose reads .env by itself. Random values, never well-known ones: the
 * compose stack runs with NODE_ENV=production, which refuses to start without them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const file = join(__dirname, '..', '..', '.env');
if (existsSync(file)) {
  process.stdout.write(`${file} exists; keeping its secrets (delete it to make new ones)\n`);
} else {
  const lines = [
    '# Made by `npm run compose:env` for docker compose. Keep it out of version control.',
    `ADMIN_API_TOKEN=${randomBytes(32).toString('base64url')}`,
    `PAYLOAD_ENCRYPTION_KEYS=k1:${randomBytes(32).toString('base64')}`,
  ];
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
  process.stdout.write(`wrote ${file} (ADMIN_API_TOKEN, PAYLOAD_ENCRYPTION_KEYS)\n`);
}
