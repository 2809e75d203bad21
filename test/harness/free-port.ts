import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

/** The ports this process has handed out: each goes to one caller. */
const handedOut = new Set<number>();

/**
 * A loopback port the OS says is free now, and that this process has not handed out before; the
 * caller's server binds it a moment later. The OS may well offer a port again while the server
 * it went to has not bound it yet (seen: the benchmark's API and its Mailpit given one port, and
 * the API failing to start with EADDRINUSE).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: offered } = server.address() as { port: number };
        server.close(() => resolve(offered));
      });
    });
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

/**
 * A loopback port free now, for a server that a test stops and starts again on the same port:
 * below Linux's ephemeral range (32768 and up), so that while the server is down no outgoing
 * connection can take the port as its source port, nor a client retrying to reach it connect to
 * itself (a TCP self-connect), either of which leaves the restarted server unable to bind.
 * Temporal also records membership ports in a SMALLINT column, which this range fits.
 */
export async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 10_000 + randomInt(22_000);
    // Two asked for before either is bound must not get the same one.
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}
