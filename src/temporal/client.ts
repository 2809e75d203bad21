/** The one way this service builds a Temporal client: with the payload codec, so history holds no personal data in clear. */
import { Client, type ConnectionLike } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { Config } from '../config';
import type { Tracing } from '../telemetry/tracing';
import { createEncryptionCodec, encryptedDataConverter } from './payload-encryption';

export interface TemporalClient {
  client: Client;
  /** The codec the client encrypts with; the worker needs the same one. */
  payloadCodec: PayloadCodec;
}

/**
 * A client on an open connection (a Connection, or the worker's NativeConnection) with the
 * codec the config's keys give. Whatever one process encrypts, every other with the keys reads.
 * With tracing, each workflow it starts continues the caller's trace.
 */
export function createTemporalClient(
  connection: ConnectionLike,
  config: { temporal: { namespace: string }; security: Pick<Config['security'], 'payloadKeys' | 'payloadEncryptionRequired'> },
  tracing?: Tracing,
): TemporalClient {
  // Refuses a payload in clear (a forged input or signal) unless PAYLOAD_ENCRYPTION_REQUIRED=false.
  const payloadCodec = createEncryptionCodec(config.security.payloadKeys, { rejectPlaintext: config.security.payloadEncryptionRequired });
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: encryptedDataConverter(payloadCodec),
    ...(tracing && { interceptors: { workflow: tracing.workflowClientInterceptors } }),
  });
  return { client, payloadCodec };
}
