import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  createEncryptionCodec,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  PayloadDecryptionError,
  type PayloadKey,
} from '../../src/temporal/payload-encryption';

const key = (id: string): PayloadKey => ({ id, key: randomBytes(32) });
const secret = { email: 'ada@example.com', password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA' };

describe('AES-256-GCM payload codec', () => {
  it('encrypts with the first key, records its id, and round-trips', async () => {
    const k1 = key('k1');
    const codec = createEncryptionCodec([k1]);
    const payload = defaultPayloadConverter.toPayload(secret);
    const [encrypted] = await codec.encode([payload]);
    expect(Buffer.from(encrypted.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(encrypted.metadata![KEY_ID_METADATA]!).toString()).toBe('k1');
    const raw = Buffer.from(encrypted.data!).toString('latin1');
    expect(raw).not.toContain('ada@example.com');
    expect(raw).not.toContain('json/plain');
    const [decoded] = await codec.decode([encrypted]);
    expect(defaultPayloadConverter.fromPayload(decoded)).toEqual(secret);
  });

  it('refuses a payload in clear with rejectPlaintext, by its fixed reason; passes it through without', async () => {
    const k1 = key('k1');
    const plain = defaultPayloadConverter.toPayload(secret);
    const strict = createEncryptionCodec([k1], { rejectPlaintext: true });
    const error = await strict.decode([plain]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PayloadDecryptionError);
    expect((error as PayloadDecryptionError).reason).toBe('not_encrypted');
    // Its own encryptions still decode.
    const [encrypted] = await strict.encode([plain]);
    expect(defaultPayloadConverter.fromPayload((await strict.decode([encrypted]))[0])).toEqual(secret);
    expect(await createEncryptionCodec([k1]).decode([plain])).toEqual([plain]);
  });

  it('uses a fresh IV each time', async () => {
    const codec = createEncryptionCodec([key('k1')]);
    const payload = defaultPayloadConverter.toPayload(secret);
    const [a, b] = await codec.encode([payload, payload]);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
  });

  it('after rotation encrypts with the new key and still decrypts the old one', async () => {
    const oldKey = key('2025-01');
    const newKey = key('2026-01');
    const [old] = await createEncryptionCodec([oldKey]).encode([defaultPayloadConverter.toPayload(secret)]);
    const rotated = createEncryptionCodec([newKey, oldKey]);
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([old]))[0])).toEqual(secret);
    const [fresh] = await rotated.encode([defaultPayloadConverter.toPayload(secret)]);
    expect(Buffer.from(fresh.metadata![KEY_ID_METADATA]!).toString()).toBe('2026-01');
    // Once the old key is dropped its payloads are unreadable, loudly.
    await expect(createEncryptionCodec([newKey]).decode([old])).rejects.toThrow(PayloadDecryptionError);
  });

  it('rejects tampered ciphertext and a payload relabelled to another key id', async () => {
    const k1 = key('k1');
    const k2 = key('k2');
    const codec = createEncryptionCodec([k1, k2]);
    const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload(secret)]);
    const tampered = Buffer.from(encrypted.data!);
    tampered[20] ^= 1;
    await expect(codec.decode([{ ...encrypted, data: tampered }])).rejects.toThrow(/failed authentication/);
    const relabelled = { ...encrypted, metadata: { ...encrypted.metadata, [KEY_ID_METADATA]: Buffer.from('k2') } };
    await expect(codec.decode([relabelled])).rejects.toThrow(/failed authentication/);
  });

  it('passes payloads that are not encrypted through decode unchanged', async () => {
    const plain = defaultPayloadConverter.toPayload({ a: 1 });
    expect(await createEncryptionCodec([key('k1')]).decode([plain])).toEqual([plain]);
  });
});
