import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { methodNotAllowed } from '../spec/edgefleet-error.js';
import { createHttpServer } from './create-http-server.js';
import { readJsonBody } from './read-json-body.js';
import { onlyRead, sendError, sendJson } from './respond.js';

const limit = 1024;

/** A server as the control plane and the gateway make them: /health is read-only, /echo reads a body. */
async function startServer() {
  let bodiesRead = 0;
  const server = createHttpServer((request, response) => {
    void (async () => {
      try {
        if (request.url === '/health') {
          onlyRead(request, '/health');
          return sendJson(response, 200, { ok: true });
        }
        if (request.url === '/locked') throw methodNotAllowed(request.method ?? '', '/locked', ['GET']);
        const body = await readJsonBody(request, limit);
        bodiesRead += 1;
        sendJson(response, 200, { body });
      } catch (error) {
        sendError(response, error);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, port, bodiesRead: () => bodiesRead };
}

/** Everything a raw socket receives until the server closes it or `quietMs` pass without data. */
function exchange(port: number, send: (socket: Socket) => void, quietMs = 1500) {
  return new Promise<{ text: string; closedByServer: boolean }>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => send(socket));
    let text = '';
    let timer = setTimeout(() => finish(false), quietMs);
    const finish = (closedByServer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closedByServer });
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), quietMs);
    });
    socket.on('end', () => finish(true));
    socket.on('error', () => finish(true));
  });
}

let stop: (() => void) | undefined;
afterEach(() => stop?.());

describe('createHttpServer', () => {
  it('closes the connection after refusing a body over the limit instead of reading the rest', async () => {
    const { server, port } = await startServer();
    stop = () => server.close();
    const started = Date.now();
    // Declares 100 MB, sends 1 KB of it and keeps the connection open: the 413 must not wait for the rest.
    const { text, closedByServer } = await exchange(port, (socket) => {
      socket.write(
        'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
          `content-length: ${100 * 1024 * 1024}\r\n\r\n${'x'.repeat(1024)}`,
      );
    });
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text.toLowerCase()).toContain('connection: close');
    expect(closedByServer).toBe(true);
    expect(Date.now() - started).toBeLessThan(1400);
  });

  it('sends 100 Continue only for a body it will read, and refuses one over the limit without it', async () => {
    const { server, port, bodiesRead } = await startServer();
    stop = () => server.close();
    const refused = await exchange(port, (socket) => {
      socket.write(
        'POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-type: application/json\r\n' +
          `content-length: ${limit + 1}\r\n\r\n`,
      );
    });
    expect(refused.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(refused.text).not.toContain('100 Continue');
    expect(refused.closedByServer).toBe(true);

    const body = '{"a":1}';
    const accepted = await exchange(
      port,
      (socket) => {
        socket.write(
          'POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-type: application/json\r\n' +
            `content-length: ${body.length}\r\n\r\n`,
        );
        socket.once('data', () => socket.write(body)); // the body only after the 100
      },
      500,
    );
    expect(accepted.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(accepted.text).toContain('{"body":{"a":1}}');
    expect(bodiesRead()).toBe(1);
  });

  it('answers 405 with an Allow header, and keeps the connection when the request was read whole', async () => {
    const { server, port } = await startServer();
    stop = () => server.close();
    const base = `http://127.0.0.1:${port}`;
    const health = await fetch(`${base}/health`, { method: 'POST', body: '{}' });
    expect(health.status).toBe(405);
    expect(health.headers.get('allow')).toBe('GET, HEAD');
    expect(((await health.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed');
    expect((await fetch(`${base}/health`, { method: 'HEAD' })).status).toBe(200);
    const locked = await exchange(
      port,
      (socket) => socket.write('DELETE /locked HTTP/1.1\r\nhost: x\r\n\r\n'),
      300,
    );
    expect(locked.text).toMatch(/^HTTP\/1\.1 405 /);
    expect(locked.text.toLowerCase()).toContain('allow: get\r\n');
    expect(locked.text.toLowerCase()).not.toContain('connection: close');
    expect(locked.closedByServer).toBe(false);
  });
});
