/**
 * A small OTLP/HTTP receiver inside the benchmark, for the phase with tracing on: the API and the
 * worker export their spans to it (OTEL_EXPORTER_OTLP_ENDPOINT), and it only counts what arrives.
 * It never parses the protobuf bodies: the phase measures what exporting costs the service, and a
 * real collector's own work is not the service's. Its CPU lands in the load generator's column.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpCounts {
  /** POSTs to /v1/traces: one per batch a process exported. */
  requests: number;
  /** Their body bytes, as sent (protobuf, compressed or not). */
  bytes: number;
  /** Anything else that arrived (a wrong path or method): there should be none. */
  rejected: number;
}

export const emptyCounts = (): OtlpCounts => ({ requests: 0, bytes: 0, rejected: 0 });

/**
 * Counts one request in `counts` and returns the status to answer: 200 for a POST of traces
 * (an empty body is a valid, empty ExportTraceServiceResponse), 404 for anything else.
 */
export function countOtlpRequest(counts: OtlpCounts, method: string | undefined, url: string | undefined, bodyBytes: number): number {
  const path = (url ?? '').split('?')[0];
  if (method === 'POST' && path === '/v1/traces') {
    counts.requests += 1;
    counts.bytes += bodyBytes;
    return 200;
  }
  counts.rejected += 1;
  return 404;
}

export interface OtlpReceiver {
  /** The base URL for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  endpoint: string;
  /** What has arrived so far (a copy). */
  counts(): OtlpCounts;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const counts = emptyCounts();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      const status = countOtlpRequest(counts, req.method, req.url, bytes);
      res.writeHead(status, { 'content-type': 'application/x-protobuf', 'content-length': '0' });
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
