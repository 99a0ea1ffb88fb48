/**
 * HTTP servers a test starts on 127.0.0.1 and that are closed after each test: `listen(handler)` gives
 * the base URL; `closeServers()` (call it from `afterEach`) drops their connections and closes them.
 * Also `freePort()`, for a process the test starts itself.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';

const servers: Server[] = [];

export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  port = 0,
): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Ports fetch refuses ("bad port", as browsers do) where a server may still listen. */
const fetchBlockedPorts = [6665, 6666, 6667, 6668, 6669, 10080];

/** `listen` on a port that fetch refuses: the first of them free on 127.0.0.1. */
export async function listenOnFetchBlockedPort(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<string> {
  for (const port of fetchBlockedPorts) {
    try {
      return await listen(handler, port);
    } catch (error) {
      servers.pop();
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  throw new Error(`ports ${fetchBlockedPorts.join(', ')} are all taken on 127.0.0.1`);
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

/** A server that answers one request per connection and resets any later one on it (see below). */
export interface OneShotServer {
  url: string;
  /** Requests answered, and requests reset on a connection that had already answered one. */
  counts: () => { served: number; resets: number };
  close: () => Promise<void>;
}

/**
 * Like llama-server after a streamed answer: each connection answers one HTTP request (with keep-alive
 * headers and `contentType`/`body`), then any further request on it is reset before an answer, as when a
 * server closes an idle keep-alive connection while the client reuses it.
 */
export async function oneRequestPerConnection(contentType: string, body: string): Promise<OneShotServer> {
  let served = 0;
  let resets = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let answered = false;
    let pending = '';
    socket.on('error', () => undefined);
    socket.on('data', (bytes) => {
      if (answered) {
        resets += 1;
        socket.resetAndDestroy();
        return;
      }
      pending += bytes.toString('latin1');
      const end = pending.indexOf('\r\n\r\n');
      const length = Number(/content-length: *(\d+)/i.exec(pending)?.[1] ?? 0);
      if (end < 0 || pending.length < end + 4 + length) return;
      answered = true;
      served += 1;
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: ${contentType}\r\nkeep-alive: timeout=5, max=100\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts: () => ({ served, resets }),
    close: () => {
      for (const socket of sockets) socket.destroy(); // clients keep pooled connections open
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
