import type { Server } from 'node:http';

/**
 * Stops a relay without waiting on its clients: a client holding a connection open (keep-alive, or a response it
 * never read) must not hold up the stop, so idle connections close at once and the rest after a second.
 */
export async function stopRelay(relay: {
  readonly app: { readonly server: Server };
  stop(): Promise<void>;
}): Promise<void> {
  const server = relay.app.server;
  const force = setTimeout(() => server.closeAllConnections(), 1_000);
  force.unref();
  server.closeIdleConnections();
  await relay.stop();
  clearTimeout(force);
}
