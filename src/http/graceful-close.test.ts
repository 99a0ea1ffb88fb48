import { Agent, request as httpRequest, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer } from './create-http-server.js';
import { closeGracefully, countConnections } from './graceful-close.js';

const opened: { close(): void }[] = [];
afterEach(() => {
  for (const thing of opened.splice(0)) thing.close();
});

/**
 * A server whose answers take `answerMs`, reached either directly (it listens) or through another
 * listener that hands it each connection (`server.emit('connection')`, as a gateway worker gets its own).
 */
async function start(mode: 'listening' | 'handed', answerMs: number) {
  const server = createHttpServer((_request, response) => {
    setTimeout(() => response.end('done'), answerMs);
  });
  const open = countConnections(server);
  let port: number;
  if (mode === 'listening') {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  } else {
    server.emit('listening'); // as takeConnections does: node:http tracks connections from then on
    const front = createNetServer((socket: Socket) => server.emit('connection', socket));
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    opened.push(front);
    port = (front.address() as AddressInfo).port;
  }
  opened.push({ close: () => server.closeAllConnections() });
  return { server, open, port };
}

function keepAliveAgent(): Agent {
  const agent = new Agent({ keepAlive: true });
  opened.push({ close: () => agent.destroy() });
  return agent;
}

/** A GET on a keep-alive agent's connection: its status and body, or the error's code. */
function get(port: number, agent: Agent): Promise<string> {
  return new Promise((resolve) => {
    httpRequest({ host: '127.0.0.1', port, agent }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (part: string) => (body += part));
      response.on('end', () => resolve(`${response.statusCode} ${body}`));
    })
      .on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
      .end();
  });
}

async function drainWhileAnswering(server: Server, open: () => number, port: number) {
  const idle = await get(port, keepAliveAgent()); // leaves one idle keep-alive connection
  const answer = get(port, keepAliveAgent());
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(open()).toBe(2);
  const startedAt = Date.now();
  await closeGracefully(server, open, 5000);
  return { idle, answer: await answer, tookMs: Date.now() - startedAt };
}

describe('closeGracefully', () => {
  for (const mode of ['listening', 'handed'] as const) {
    it(`lets a request in flight finish and closes keep-alive connections at once (${mode})`, async () => {
      const { server, open, port } = await start(mode, 300);
      const { idle, answer, tookMs } = await drainWhileAnswering(server, open, port);
      expect(idle).toBe('200 done');
      expect(answer).toBe('200 done');
      // Done once the answer went out, not at the 5 s grace nor at the 65 s keep-alive timeout.
      expect(tookMs).toBeLessThan(2000);
      expect(open()).toBe(0);
    });
  }

  it('closes what is still running when the grace period ends', async () => {
    const { server, open, port } = await start('handed', 60_000);
    const answer = get(port, keepAliveAgent());
    await new Promise((resolve) => setTimeout(resolve, 50));
    const startedAt = Date.now();
    await closeGracefully(server, open, 300);
    expect(Date.now() - startedAt).toBeLessThan(1500);
    expect(await answer).toBe('ECONNRESET');
  });
});
