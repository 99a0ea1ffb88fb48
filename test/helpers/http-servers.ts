/**
 * HTTP servers a test starts on 127.0.0.1 and that are closed after each test: `listen(handler)` gives
 * the base URL; `closeServers()` (call it from `afterEach`) drops their connections and closes them.
 * Also `freePort()`, for a process the test starts itself.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';

const servers: Server[] = [];

export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function closeServers(): Promise<void> {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** The URL of a port on 127.0.0.1 where nothing listens any more (connections are refused). */
export async function refusingUrl(): Promise<string> {
  const url = await listen(() => undefined);
  await new Promise((resolve) => servers.pop()!.close(resolve));
  return url;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createTcpServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
