/**
 * The API's connection to Temporal (the worker's is a NativeConnection, which retries in Rust).
 *
 * The SDK's gRPC retry interceptor retries a failed call from a timer, up to 6 s later (5 s and
 * its jitter), that nothing cancels: not the caller's abort, not Connection.close(). A retry
 * that fires after the connection was closed throws "Channel has been shut down" inside that
 * timer, which takes the process down. A SIGTERM while Temporal is unreachable and a status read is being retried would
 * end the API with that crash instead of its drain. So this connection keeps the SDK's retries,
 * and its close() first stops them (a failed call is no longer retried) and waits out the timers
 * already set, then closes.
 */
import { performance } from 'node:perf_hooks';
import { Connection, type ConnectionOptions, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';

/**
 * gRPC's reconnect backoff grows to 120 s by default; capped, a Temporal that comes back is used
 * again within seconds however long it was away.
 */
const MAX_RECONNECT_BACKOFF_MS = 5_000;

/** Time for a retry fired at the end of the wait to start its call before the channel closes. */
const RETRY_SETTLE_MS = 50;

export interface TemporalConnection {
  connection: Connection;
  /** Stops retrying, waits for the retries already planned (at most one retry interval, ≈ 6 s), closes. */
  close(): Promise<void>;
}

/** Connects on first use, so the process starts and stays up while Temporal is down. */
export function lazyTemporalConnection(options: ConnectionOptions): TemporalConnection {
  const sdk = defaultGrpcRetryOptions();
  let closing = false;
  let retriesPlannedUntil = 0;
  const retry = makeGrpcRetryInterceptor({
    retryableDecider: (attempt, status) => !closing && sdk.retryableDecider(attempt, status),
    delayFunction: (attempt, status) => {
      const delay = sdk.delayFunction(attempt, status);
      retriesPlannedUntil = Math.max(retriesPlannedUntil, performance.now() + delay);
      return delay;
    },
  });
  const connection = Connection.lazy({
    ...options,
    channelArgs: { 'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS, ...options.channelArgs },
    interceptors: [retry],
  });
  return {
    connection,
    async close() {
      closing = true;
      // The planned retry starts its call on the open channel; that call's failure ends the chain.
      const wait = retriesPlannedUntil - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + RETRY_SETTLE_MS));
      await connection.close();
    },
  };
}
