/**
 * Keyed hashes for values we must compare later but never store in clear: the fingerprint of a
 * signup body (it holds a password) and rate-limit keys derived from an e-mail address. A plain
 * SHA-256 of such a value can be reversed by guessing (an address, a common password); an
 * HMAC-SHA256 under a server-side key cannot, without the key.
 */
import { createHmac, hkdfSync } from 'node:crypto';

/** What each derived key is for; a key derived for one purpose never verifies another's hashes. */
export const KEYED_HASH_PURPOSES = ['idempotency-fingerprint', 'rate-limit-key'] as const;
export type KeyedHashPurpose = (typeof KEYED_HASH_PURPOSES)[number];

// HKDF salt: fixed, public, and only there to separate this service's derivations from any other use of the secret.
const HKDF_SALT = 'onboarding-service keyed hashes v1';

/** A 32-byte HMAC key for one purpose, derived with HKDF-SHA256 (RFC 5869) from one secret. */
export function deriveHmacKey(secret: Buffer, purpose: KeyedHashPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, purpose, 32));
}

/** HMAC-SHA256 of the parts, each length-prefixed so ("ab","c") and ("a","bc") differ; lowercase hex. */
export function keyedHash(key: Buffer, ...parts: string[]): string {
  const hmac = createHmac('sha256', key);
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hmac.update(length).update(bytes);
  }
  return hmac.digest('hex');
}
