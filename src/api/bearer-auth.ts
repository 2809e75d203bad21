import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AuthenticationRequiredError, ForbiddenError } from '../errors';

// RFC 6750 b64token.
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Middleware that lets a request through only with `Authorization: Bearer <one of tokens>`.
 * No header or a malformed one: 401 with a Bearer challenge. Any other token: 403. With no
 * token configured nothing matches, so the route is closed rather than open.
 *
 * Tokens are compared as SHA-256 digests with timingSafeEqual: equal lengths whatever was sent,
 * and every configured token is checked, so the time taken says nothing about how close a guess was.
 */
export function requireBearerToken(tokens: ReadonlyArray<string | undefined>): RequestHandler {
  const accepted = tokens.filter((t): t is string => typeof t === 'string' && t.length > 0).map(sha256);
  return (req, _res, next) => {
    const header = req.headers.authorization;
    if (!header) throw new AuthenticationRequiredError('send Authorization: Bearer <token>');
    const match = BEARER.exec(header);
    if (!match) throw new AuthenticationRequiredError('the Authorization header must be Bearer <token>');
    const presented = sha256(match[1]);
    let ok = false;
    for (const digest of accepted) ok = timingSafeEqual(presented, digest) || ok;
    if (!ok) throw new ForbiddenError('this token is not allowed here');
    next();
  };
}
