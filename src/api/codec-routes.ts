/**
 * The Temporal codec server endpoint, so an operator's Web UI or CLI can show decrypted payloads.
 * It decrypts personal data for whoever holds a token, so it is closed without one.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import cors from 'cors';
import express, { type Router } from 'express';
import { CodecPayloads, toFieldIssues } from '../contract';
import { ValidationError } from '../errors';
import { PayloadDecryptionError } from '../temporal/payload-encryption';
import { requireBearerToken } from './bearer-auth';
import { jsonBody, requireJsonBody } from './json-body';

export interface CodecRoutesDeps {
  /**
   * A codec that passes a payload in clear through (no rejectPlaintext): the endpoint only
   * displays, and a history's search attributes and headers are in clear by design.
   */
  codec: PayloadCodec;
  /** Tokens allowed to use the endpoint; undefined entries are ignored, none at all closes it. */
  tokens: ReadonlyArray<string | undefined>;
  corsOrigins: string[];
}

// Temporal's default limit for one payload is 2 MB; a batch of the UI's is well within twice that.
// The 413's text names this limit (problem.ts reads it from the parser that refused).
export const CODEC_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

/** What a client is told about a payload it sent: a fixed code and text, never the codec's own words (key ids). */
const UNDECODABLE: Record<PayloadDecryptionError['reason'], string> = {
  not_encrypted: 'not marked binary/encrypted: every payload this service writes is encrypted',
  unknown_key: 'encrypted with a key this service does not hold',
  truncated: 'encrypted payload is truncated',
  authentication_failed: 'failed authentication: tampered with, or not encrypted by this service',
};

export function codecRoutes({ codec, tokens, corsOrigins }: CodecRoutesDeps): Router {
  const router = express.Router();
  // Full paths rather than a mount point, so the routes are visible to the OpenAPI route check.
  // Before authentication: a browser's preflight carries no Authorization header.
  router.use(
    '/codec',
    cors({
      origin: corsOrigins,
      methods: ['POST'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Namespace'],
      credentials: true,
      maxAge: 600,
    }),
  );
  router.use('/codec', requireBearerToken(tokens));
  router.use('/codec', jsonBody(CODEC_BODY_LIMIT_BYTES));

  const handle = (operation: 'encode' | 'decode'): express.RequestHandler =>
    async (req, res) => {
      requireJsonBody(req);
      const parsed = CodecPayloads.safeParse(req.body);
      if (!parsed.success) throw new ValidationError('the body must be {payloads: [...]} in proto3 JSON', toFieldIssues(parsed.error));
      let result: Payload[];
      try {
        result = await codec[operation](parsed.data.payloads.map(fromJson));
      } catch (err) {
        if (err instanceof PayloadDecryptionError) throw undecodable(err.reason);
        throw err;
      }
      res.json({ payloads: result.map(toJson) });
    };
  router.post('/codec/encode', handle('encode'));
  router.post('/codec/decode', handle('decode'));
  return router;
}

function undecodable(reason: PayloadDecryptionError['reason']): ValidationError {
  return new ValidationError('a payload could not be decrypted', [{ field: 'payloads', message: UNDECODABLE[reason], code: reason }]);
}

function fromJson(payload: CodecPayloads['payloads'][number]): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(payload.data ?? '', 'base64'),
  };
}

function toJson(payload: Payload): CodecPayloads['payloads'][number] {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
    data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
  };
}
