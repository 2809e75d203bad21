/**
 * The pure parts of the bridge's recovery: how errors and deliveries are sorted, the circuit's
 * state machine (with a probe function standing in for Temporal), the backoff, and the config
 * rules that keep every hold well inside the broker's consumer timeout.
 */
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { readDelivery, sortRunError, Unhandleable } from '../../src/bridge/delivery-errors';
import { createTemporalCircuit } from '../../src/bridge/temporal-circuit';
import { ConfigError, loadConfig } from '../../src/config';
import { SIGNUP_MESSAGE_VERSION } from '../../src/contract';
import { backoffDelayMs } from '../../src/messaging/backoff';
import { createEncryptionCodec } from '../../src/temporal/payload-encryption';
import { signupMessage } from '../support/fixtures';
import { eventually, silentLogger } from '../support/stack';

const BASE = { PAYLOAD_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}` };

/** A gRPC error as @grpc/grpc-js and the SDK's native client raise them. */
const grpcError = (code: number, details: string) => Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });

describe('sortRunError', () => {
  it('names the missing key of a result encrypted with a key this process lacks (the codec’s own error)', async () => {
    const [encrypted] = await createEncryptionCodec([{ id: 'k2', key: randomBytes(32) }]).encode([defaultPayloadConverter.toPayload({ created: true })]);
    const error = await createEncryptionCodec([{ id: 'k1', key: randomBytes(32) }]).decode([encrypted]).catch((err: unknown) => err);
    expect(sortRunError(error)).toEqual({ kind: Unhandleable.UndecodableResult, reason: 'payload key k2 missing' });
  });

  it('tells a payload that fails authentication from a missing key', async () => {
    const [encrypted] = await createEncryptionCodec([{ id: 'k1', key: randomBytes(32) }]).encode([defaultPayloadConverter.toPayload(1)]);
    const error = await createEncryptionCodec([{ id: 'k1', key: randomBytes(32) }]).decode([encrypted]).catch((err: unknown) => err);
    expect(sortRunError(error)).toEqual({ kind: Unhandleable.UndecodableResult, reason: expect.stringMatching(/^run result cannot be decrypted here: .*failed authentication/) });
  });

  it('retries what a later attempt can heal, and nothing else', () => {
    expect(sortRunError(grpcError(14, 'connection refused')).kind).toBe('transport');
    expect(sortRunError(grpcError(4, 'deadline exceeded')).kind).toBe('transport');
    expect(sortRunError(Object.assign(new Error('wrapped'), { cause: grpcError(14, 'tcp connect error') })).kind).toBe('transport');
    expect(sortRunError(grpcError(7, 'permission denied'))).toEqual({ kind: 'unexpected', reason: 'Temporal refused: permission denied' });
    expect(sortRunError(new TypeError('x is not a function'))).toEqual({ kind: 'unexpected', reason: 'x is not a function' });
  });
});

describe('readDelivery', () => {
  it('reads a signup of this contract version', async () => {
    const message = await signupMessage();
    expect(readDelivery(Buffer.from(JSON.stringify(message)))).toEqual({ kind: 'signup', signup: message });
  });

  it('tells a message of another contract version from one that breaks the contract', async () => {
    const message = await signupMessage();
    const next = SIGNUP_MESSAGE_VERSION + 1;
    expect(readDelivery(Buffer.from(JSON.stringify({ ...message, version: next, shiny_new_field: true })))).toEqual({
      kind: Unhandleable.UnknownContractVersion,
      reason: `signup contract version ${next} unknown here (this process reads version ${SIGNUP_MESSAGE_VERSION})`,
      userId: message.user_id,
    });
    expect(readDelivery(Buffer.from(JSON.stringify({ version: next, user_id: 'not-a-uuid' })))).not.toHaveProperty('userId');
    for (const body of ['not json', '{"email": 42}', JSON.stringify({ ...message, version: '2' }), JSON.stringify({ ...message, email: 'nope' })]) {
      expect(readDelivery(Buffer.from(body)).kind).toBe('invalid');
    }
  });
});

describe('the Temporal circuit', () => {
  it('opens after two failed watchdog probes while busy, probes until Temporal answers, then closes', async () => {
    let answering = true;
    let probes = 0;
    const events: string[] = [];
    const circuit = createTemporalCircuit({
      probe: async () => {
        probes++;
        if (!answering) throw new Error('no answer');
      },
      probeIntervalMs: 100,
      busy: () => true,
      logger: silentLogger,
      onOpen: (reason) => events.push(`open: ${reason}`),
      onClose: () => events.push('close'),
    });
    try {
      await eventually(async () => (probes >= 2 ? true : undefined), 5_000, 'watchdog probes');
      expect(circuit.isOpen()).toBe(false);
      answering = false;
      await eventually(async () => (circuit.isOpen() ? true : undefined), 5_000, 'the circuit to open');
      expect(circuit.openState()?.reason).toBe('Temporal does not answer: no answer');
      answering = true;
      await eventually(async () => (circuit.isOpen() ? undefined : true), 5_000, 'the circuit to close');
      expect(events).toEqual(['open: Temporal does not answer: no answer', 'close']);
    } finally {
      circuit.stop();
    }
  });

  it('probes nobody while nothing is held, and opens at once when a run reports transport errors', async () => {
    let probes = 0;
    const circuit = createTemporalCircuit({
      probe: async () => {
        probes++;
      },
      probeIntervalMs: 50,
      busy: () => false,
      logger: silentLogger,
      onOpen: () => undefined,
      onClose: () => undefined,
    });
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(probes).toBe(0);
      circuit.open('Temporal unreachable: 14 UNAVAILABLE');
      expect(circuit.isOpen()).toBe(true);
      await eventually(async () => (circuit.isOpen() ? undefined : true), 5_000, 'the circuit to close');
      expect(probes).toBe(1);
    } finally {
      circuit.stop();
    }
  });
});

describe('backoffDelayMs', () => {
  it('starts near the initial delay, doubles, and never passes the cap', () => {
    const b = { initialMs: 200, maxMs: 5_000 };
    for (let i = 0; i < 200; i++) {
      expect(backoffDelayMs(1, b)).toBeGreaterThanOrEqual(160);
      expect(backoffDelayMs(1, b)).toBeLessThanOrEqual(240);
      expect(backoffDelayMs(3, b)).toBeGreaterThanOrEqual(640);
      expect(backoffDelayMs(30, b)).toBeLessThanOrEqual(5_000);
    }
  });
});

describe('bridge config', () => {
  it('holds a delivery at most half the consumer timeout by default', () => {
    const c = loadConfig({ ...BASE, AMQP_CONSUMER_TIMEOUT_MS: '1800000' });
    expect(c.bridge).toEqual({ maxHoldMs: 900_000, consumerDownLivenessMs: 300_000, temporalProbeIntervalMs: 5_000, maxDeliveries: 5, handBackDelayMs: 2_000 });
  });

  it('refuses a hold longer than half the consumer timeout, and a hand-back delay that does not fit in the hold', () => {
    expect(() => loadConfig({ ...BASE, BRIDGE_MAX_HOLD_MS: '900001' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...BASE, BRIDGE_MAX_HOLD_MS: '900001' })).toThrow(/BRIDGE_MAX_HOLD_MS: must be at most half of AMQP_CONSUMER_TIMEOUT_MS/);
    expect(() => loadConfig({ ...BASE, BRIDGE_MAX_HOLD_MS: '2000', BRIDGE_HAND_BACK_DELAY_MS: '2000' })).toThrow(/BRIDGE_HAND_BACK_DELAY_MS: must be less than/);
    expect(loadConfig({ ...BASE, BRIDGE_MAX_HOLD_MS: '60000' }).bridge.maxHoldMs).toBe(60_000);
  });
});
