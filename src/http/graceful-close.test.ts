import { Agent, request as httpRequest } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer } from './create-http-server.js';
import { trackConnections } from './graceful-close.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/**
 * A server that answers `/slow` after `slowMs`, `/slower` after twice that, `/big` with 8 MiB, anything
 * else at once; reached either
 * directly (it listens) or through another listener that hands it each connection
 * (`server.emit('connection')`, as a gateway worker gets its own). `arrived()` resolves at the next request.
 */
async function start(mode: 'listening' | 'handed', slowMs = 300) {
  let onArrival: () => void = () => undefined;
  const server = createHttpServer((request, response) => {
    onArrival();
    if (request.url === '/slow') setTimeout(() => response.end('slow done'), slowMs);
    else if (request.url === '/slower') setTimeout(() => response.end('slower done'), 2 * slowMs);
    else if (request.url === '/big') response.end(Buffer.alloc(8 * 1024 * 1024, 'x'));
    else response.end('done');
  });
  const connections = trackConnections(server);
  let port: number;
  if (mode === 'listening') {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  } else {
    server.emit('listening'); // as takeConnections does: node:http tracks connections from then on
    const front = createNetServer((socket: Socket) => server.emit('connection', socket));
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => front.close());
    port = (front.address() as AddressInfo).port;
  }
  cleanups.push(() => server.closeAllConnections());
  const arrived = () => new Promise<void>((resolve) => (onArrival = resolve));
  return { connections, port, arrived };
}

function keepAliveAgent(): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(() => agent.destroy());
  return agent;
}

interface Answer {
  status: number;
  body: string;
  connection: string | undefined;
}

/** A GET of `path` on `agent`: the answer, or the error's code. */
function get(port: number, path: string, agent: Agent): Promise<Answer | string> {
  return new Promise((resolve) => {
    httpRequest({ host: '127.0.0.1', port, path, agent }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (part: string) => (body += part));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body, connection: response.headers.connection }),
      );
    })
      .on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
      .end();
  });
}

describe('trackConnections().close', () => {
  for (const mode of ['listening', 'handed'] as const) {
    it(`lets a request in flight finish and closes keep-alive connections (${mode})`, async () => {
      const { connections, port, arrived } = await start(mode);
      const idleAgent = keepAliveAgent();
      expect(await get(port, '/', idleAgent)).toMatchObject({ status: 200, connection: 'keep-alive' });
      const busyAgent = keepAliveAgent();
      const coming = arrived();
      const answer = get(port, '/slow', busyAgent);
      await coming;
      expect(connections.open()).toBe(2);
      const startedAt = Date.now();
      const closed = connections.close(5000);
      expect(await answer).toMatchObject({ status: 200, body: 'slow done' });
      await closed;
      // Done once the answer went out: not at the 5 s grace, nor at the 65 s keep-alive timeout.
      expect(Date.now() - startedAt).toBeLessThan(2000);
      expect(connections.open()).toBe(0);
    });
  }

  it('answers a request that comes while it drains with connection: close', async () => {
    const { connections, port, arrived } = await start('handed', 500);
    const coming = arrived();
    const slow = get(port, '/slow', keepAliveAgent());
    await coming;
    const closed = connections.close(5000);
    // A connection handed over meanwhile (a gateway worker's primary had sent it before it heard that
    // the worker stops): answered, and closed after.
    expect(await get(port, '/', keepAliveAgent())).toMatchObject({ status: 200, connection: 'close' });
    // Its headers were still to come when the drain began: it says so too.
    expect(await slow).toMatchObject({ status: 200, body: 'slow done', connection: 'close' });
    await closed;
    expect(connections.open()).toBe(0);
  });

  it('answers every request a client pipelined before it drained', async () => {
    const { connections, port, arrived } = await start('handed', 200);
    const coming = arrived();
    const socket = connect(port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    let text = '';
    socket.setEncoding('utf8').on('data', (part: string) => (text += part));
    const ended = new Promise((resolve) => socket.on('close', resolve));
    // The second still running when the first is answered.
    socket.write('GET /slow HTTP/1.1\r\nhost: x\r\n\r\nGET /slower HTTP/1.1\r\nhost: x\r\n\r\n');
    await coming;
    await connections.close(5000);
    await ended;
    expect(text.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(text).toContain('slow done');
    expect(text.endsWith('slower done')).toBe(true);
  });

  it('writes out a large answer in full to a client that reads slowly, while it drains', async () => {
    const { connections, port, arrived } = await start('handed');
    const coming = arrived();
    const received = new Promise<number>((resolve) => {
      httpRequest({ host: '127.0.0.1', port, path: '/big', agent: keepAliveAgent() }, (response) => {
        let bytes = 0;
        response.pause();
        // Reads nothing for 500 ms, so most of the answer is still in the server's buffers.
        setTimeout(() => response.resume(), 500);
        response.on('data', (part: Buffer) => (bytes += part.length));
        response.on('end', () => resolve(bytes));
        response.on('error', () => resolve(bytes));
      })
        .on('error', () => resolve(-1))
        .end();
    });
    await coming;
    await connections.close(5000);
    expect(await received).toBe(8 * 1024 * 1024);
  });

  it('closes what is still running when the grace period ends', async () => {
    const { connections, port, arrived } = await start('handed', 60_000);
    const coming = arrived();
    const answer = get(port, '/slow', keepAliveAgent());
    await coming;
    const startedAt = Date.now();
    await connections.close(300);
    expect(Date.now() - startedAt).toBeLessThan(1500);
    expect(await answer).toBe('ECONNRESET');
  });
});
