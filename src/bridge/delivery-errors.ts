/**
 * Sorts what can go wrong with one delivery, so each kind is handled as what it is: a transport
 * error is retried (bounded) and then pauses the consumer; what waiting in this process cannot
 * heal (a run result it cannot decode, a contract version it does not know) is handed back for
 * another process and dead-lettered after a bounded number of deliveries.
 */
import { isGrpcServiceError, ServiceError } from '@temporalio/client';
import { ValueError } from '@temporalio/common';
import { SIGNUP_MESSAGE_VERSION, parseSignupMessage, type FieldIssue, type SignupMessage } from '../contract';
import { PayloadDecryptionError } from '../temporal/payload-encryption';

/** Why a delivery cannot be handled by this process however long it waits. The values are metric labels. */
export const Unhandleable = {
  /** The run's result (or failure) is encrypted with a key this process does not have, or cannot be decoded. */
  UndecodableResult: 'undecodable_result',
  /** The message names a signup contract version this process does not read. */
  UnknownContractVersion: 'unknown_contract_version',
} as const;
export type Unhandleable = (typeof Unhandleable)[keyof typeof Unhandleable];

/**
 * The failure reason recorded (signup_requests.failure_reason) for a delivery that no process
 * could handle. Its closing words are how the DLQ tool tells such a letter from a failed run:
 * both reach the DLQ as `rejected`, and a message of the known version looks the same either way.
 */
const NO_PROCESS_COULD_HANDLE = 'that no process could handle';
export function unhandleableFailureReason(reason: string, deliveries: number): string {
  // Short enough that the column's bounded prefix keeps the closing words.
  return `${reason.slice(0, 500)}; dead-lettered after ${deliveries} deliveries ${NO_PROCESS_COULD_HANDLE}`;
}
export const isUnhandleableFailureReason = (recorded: string): boolean => recorded.endsWith(NO_PROCESS_COULD_HANDLE);

export type SortedRunError =
  | { kind: 'transport'; reason: string }
  | { kind: Unhandleable; reason: string }
  | { kind: 'unexpected'; reason: string };

// gRPC status codes a later attempt can succeed on: UNKNOWN (a broken connection often reads so),
// DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE.
const TRANSIENT_GRPC_CODES = new Set([2, 4, 8, 10, 14]);
// The codec's words for a payload whose key is not configured here (payload-encryption.ts).
const MISSING_KEY = /no key with id "([^"]*)" is configured/;

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e instanceof Error && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain.length > 0 ? chain : [err];
}

export function sortRunError(err: unknown): SortedRunError {
  const chain = causes(err);
  const decryption = chain.find((e) => e instanceof PayloadDecryptionError) as PayloadDecryptionError | undefined;
  if (decryption) {
    const missing = MISSING_KEY.exec(decryption.message);
    return {
      kind: Unhandleable.UndecodableResult,
      reason: missing ? `payload key ${missing[1]} missing` : `run result cannot be decrypted here: ${decryption.message}`,
    };
  }
  const undecodable = chain.find((e) => e instanceof ValueError) as Error | undefined;
  if (undecodable) return { kind: Unhandleable.UndecodableResult, reason: `run result cannot be decoded here: ${undecodable.message}` };
  const grpc = chain.find(isGrpcServiceError);
  if (grpc) {
    return TRANSIENT_GRPC_CODES.has(grpc.code)
      ? { kind: 'transport', reason: `Temporal unreachable: ${grpc.details || grpc.message}` }
      : { kind: 'unexpected', reason: `Temporal refused: ${grpc.details || grpc.message}` };
  }
  // A ServiceError without a gRPC status: the connection itself failed.
  if (chain.some((e) => e instanceof ServiceError)) return { kind: 'transport', reason: `Temporal unreachable: ${(err as Error).message}` };
  return { kind: 'unexpected', reason: err instanceof Error ? err.message : String(err) };
}

export type ReadDelivery =
  | { kind: 'signup'; signup: SignupMessage }
  /** Breaks the contract this process reads: dead-lettered at once, no process can do better. */
  | { kind: 'invalid'; issues: FieldIssue[] }
  | { kind: typeof Unhandleable.UnknownContractVersion; reason: string; userId?: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A message of another contract version is not poison: a process of that version (during a
 * rolling deploy) can read it, so it is told apart from one that breaks the contract.
 */
export function readDelivery(body: Buffer): ReadDelivery {
  const parsed = parseSignupMessage(body);
  if (parsed.ok) return { kind: 'signup', signup: parsed.value };
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return { kind: 'invalid', issues: parsed.issues };
  }
  const { version, user_id: userId } = (json ?? {}) as { version?: unknown; user_id?: unknown };
  if (typeof version === 'number' && Number.isInteger(version) && version !== SIGNUP_MESSAGE_VERSION) {
    return {
      kind: Unhandleable.UnknownContractVersion,
      reason: `signup contract version ${version} unknown here (this process reads version ${SIGNUP_MESSAGE_VERSION})`,
      ...(typeof userId === 'string' && UUID.test(userId) ? { userId } : {}),
    };
  }
  return { kind: 'invalid', issues: parsed.issues };
}
