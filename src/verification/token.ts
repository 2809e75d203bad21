/**
 * Verification tokens: a 16-byte selector that finds the row and a 32-byte random verifier of
 * which only a SHA-256 is stored. Mailed as 64 base64url characters, so a link needs no escaping.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { VERIFICATION_TOKEN_LENGTH } from '../contract';

const SELECTOR_BYTES = 16;
const VERIFIER_BYTES = 32;

export interface IssuedToken {
  /** The token for the link; never stored, never logged. */
  token: string;
  selector: Buffer;
  verifierHash: Buffer;
}

export interface ParsedToken {
  selector: Buffer;
  verifier: Buffer;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();

export function issueToken(): IssuedToken {
  const selector = randomBytes(SELECTOR_BYTES);
  const verifier = randomBytes(VERIFIER_BYTES);
  return { token: Buffer.concat([selector, verifier]).toString('base64url'), selector, verifierHash: sha256(verifier) };
}

/** The selector and verifier of a token of the right shape, or null for anything else. */
export function parseToken(token: string): ParsedToken | null {
  if (token.length !== VERIFICATION_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
  const bytes = Buffer.from(token, 'base64url');
  if (bytes.length !== SELECTOR_BYTES + VERIFIER_BYTES) return null;
  return { selector: bytes.subarray(0, SELECTOR_BYTES), verifier: bytes.subarray(SELECTOR_BYTES) };
}

/** Compares in constant time: how long it takes says nothing about how much of a guess was right. */
export function verifierMatches(verifier: Buffer, storedHash: Buffer): boolean {
  const presented = sha256(verifier);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}

/** The link a mail carries. */
export function verificationLink(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl}/verify?token=${token}`;
}
