/**
 * AES-256-GCM encryption of every Temporal payload (workflow and activity inputs and results),
 * so Temporal's history holds no e-mail, name or password hash in clear. The codec runs in the
 * client and in the worker, outside the workflow sandbox; workflow code never sees ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

/** One AES-256 key and the id written into every payload it encrypts, so keys can be rotated. */
export interface PayloadKey {
  id: string;
  key: Buffer;
}

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Parses `keyId:base64key,keyId:base64key`. The first key encrypts; all of them decrypt.
 * Returns the problems instead of throwing so config validation can list them with the rest.
 */
export function parsePayloadKeys(raw: string): { ok: true; keys: PayloadKey[] } | { ok: false; problem: string } {
  const keys: PayloadKey[] = [];
  for (const entry of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    if (!KEY_ID.test(id)) return { ok: false, problem: 'each entry must be keyId:base64key, keyId of [A-Za-z0-9._-]{1,64}' };
    const encoded = entry.slice(colon + 1);
    const key = Buffer.from(encoded, 'base64');
    // Buffer.from ignores bad characters; the round trip catches them.
    if (key.length !== 32 || key.toString('base64') !== encoded) {
      return { ok: false, problem: `key ${id} must be 32 bytes in standard base64 (openssl rand -base64 32)` };
    }
    if (keys.some((k) => k.id === id)) return { ok: false, problem: `key id ${id} appears twice` };
    keys.push({ id, key });
  }
  if (keys.length === 0) return { ok: false, problem: 'at least one key is required' };
  return { ok: true, keys };
}

export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
  constructor(
    message: string,
    /** A fixed code, the one thing shown to a client. */
    readonly reason: 'not_encrypted' | 'unknown_key' | 'truncated' | 'authentication_failed' = 'authentication_failed',
  ) {
    super(message);
  }
}

export interface EncryptionCodecOptions {
  /**
   * Refuse, rather than pass through, a payload not marked binary/encrypted. On for the worker
   * and the clients (PAYLOAD_ENCRYPTION_REQUIRED): every payload this service writes is
   * encrypted, so a payload in clear was written by someone who reached Temporal without the
   * key (a forged workflow input or signal), or before encryption was turned on. Off for the
   * codec endpoint, which only displays: a history's search attributes and headers are in clear
   * by design (the SDK never encodes them), and the UI or CLI shows such a payload as it is.
   */
  rejectPlaintext?: boolean;
}

/**
 * Encrypts each payload whole (its metadata too, which names the JSON encoding) with the first
 * key; decrypts with whichever key the payload names. The key id is authenticated as additional
 * data, so a payload cannot be relabelled to another key. A payload not marked encrypted is
 * refused with `rejectPlaintext`, and passes through decode unchanged without it.
 */
export function createEncryptionCodec(keys: readonly PayloadKey[], { rejectPlaintext = false }: EncryptionCodecOptions = {}): PayloadCodec {
  if (keys.length === 0) throw new Error('createEncryptionCodec needs at least one key');
  const [active] = keys;
  const byId = new Map(keys.map((k) => [k.id, k.key]));

  function encryptOne(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', active.key, iv);
    cipher.setAAD(Buffer.from(active.id, 'utf8'));
    const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      metadata: {
        encoding: Buffer.from(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: Buffer.from(active.id),
      },
      data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
    };
  }

  function decryptOne(payload: Payload): Payload {
    const encoding = payload.metadata?.encoding ? Buffer.from(payload.metadata.encoding).toString() : undefined;
    if (encoding !== ENCRYPTED_ENCODING) {
      if (rejectPlaintext) throw new PayloadDecryptionError(`payload is not encrypted (encoding ${encoding ?? 'none'})`, 'not_encrypted');
      return payload;
    }
    const rawId = payload.metadata?.[KEY_ID_METADATA];
    const keyId = rawId ? Buffer.from(rawId).toString() : '';
    const key = byId.get(keyId);
    if (!key) throw new PayloadDecryptionError(`no key with id "${keyId}" is configured`, 'unknown_key');
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError('encrypted payload is truncated', 'truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plaintext = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plaintext);
    } catch {
      throw new PayloadDecryptionError(`payload encrypted with key "${keyId}" failed authentication`);
    }
  }

  return {
    async encode(payloads) {
      return payloads.map(encryptOne);
    },
    async decode(payloads) {
      return payloads.map(decryptOne);
    },
  };
}

/** The data converter every Temporal client and worker of this service uses. */
export function encryptedDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec] };
}
