/**
 * A TCP proxy on 127.0.0.1 in front of a real server (Redis, PostgreSQL) that a test can freeze: from
 * `freeze()` on, nothing is forwarded in either direction and nothing is closed (bytes are held, a FIN
 * or a reset of one side does not reach the other), like a link that silently stopped carrying packets
 * while both ends keep their sockets open. New connections are accepted but get no answer either.
 * `thaw()` forwards what was held and carries on; `close()` (call it in afterAll) destroys every socket.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface FreezeProxy {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

export async function startFreezeProxy(target: { host: string; port: number }): Promise<FreezeProxy> {
  let frozen = false;
  let connections = 0;
  const sockets = new Set<Socket>();
  /** What to do once thawed, in order (held bytes, ends). */
  const held: (() => void)[] = [];
  const whenLive = (action: () => void) => (frozen ? held.push(action) : action());

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  /** Copies `from` to `to`: data, end and reset, each held while frozen. */
  const forward = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => whenLive(() => to.write(chunk)));
    from.on('end', () => whenLive(() => to.end()));
    from.on('close', (hadError: boolean) => whenLive(() => (hadError ? to.destroy() : to.end())));
  };

  const server = createServer({ allowHalfOpen: true }, (client) => {
    connections += 1;
    track(client);
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    track(upstream);
    forward(client, upstream);
    forward(upstream, client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return connections;
    },
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
      for (const action of held.splice(0)) action();
    },
    async close() {
      frozen = false;
      held.length = 0;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
