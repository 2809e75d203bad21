/** The one way this service builds a Temporal client: with the payload codec, so history holds no personal data in clear. */
import { Client, type ConnectionLike } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { Config } from '../config';
import type { Tracing } from '../telemetry/tracing';
import { createEncryptionCodec, encryptedDataConverter } from './payload-encryption';

export interface TemporalClient {
  client: Client;
  /** The codec the client encrypts with; the worker and the codec endpoint need the same one. */
  payloadCodec: PayloadCodec;
}

/**
 * A client on an open connection (a Connection, or the worker's NativeConnection) with the
 * codec the config's keys give. Whatever one process encrypts, every other with the keys reads.
 * With tracing, each workflow it starts continues the caller's trace.
 */
export function createTemporalClient(
  connection: ConnectionLike,
  config: { temporal: { namespace: string }; security: Pick<Config['security'], 'payloadKeys'> },
  tracing?: Tracing,
): TemporalClient {
  const payloadCodec = createEncryptionCodec(config.security.payloadKeys);
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: encryptedDataConverter(payloadCodec),
    ...(tracing && { interceptors: { workflow: tracing.workflowClientInterceptors } }),
  });
  return { client, payloadCodec };
}
