/**
 * Request size and time limits of `edgefleet server` and `edgefleet gateway` (real processes): bodies over
 * the limit get 413 (declared or chunked) on the gateway, the management API and the worker protocol,
 * an unauthenticated body is refused before it is read, oversized headers get 431, and a client that
 * sends its headers byte by byte (slowloris) is cut off with 408 by the headers timeout (10 s) while
 * other clients are served.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverTimeouts } from '../../src/http/create-http-server.js';
import { api, errorCode, Fleet, registerBody, send } from './security-fleet.js';

const chatOfBytes = (bytes: number) =>
  JSON.stringify({ model: 'alpha', messages: [{ role: 'user', content: 'x'.repeat(bytes) }] });

/**
 * Sends a request's headers one byte every `everyMs` and resolves with what the server answered and
 * when it closed the connection (ms after the start); gives up after `limitMs`.
 */
function slowloris(
  url: string,
  everyMs: number,
  limitMs: number,
): Promise<{ answer: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(url);
  const head = `GET /v1/models HTTP/1.1\r\nHost: ${hostname}\r\nX-Padding: ${'a'.repeat(10_000)}\r\n\r\n`;
  return new Promise((resolve) => {
    const startedAt = Date.now();
    let answer = '';
    let sent = 0;
    const socket = connect(Number(port), hostname);
    const drip = setInterval(() => {
      if (socket.writable && sent < head.length) socket.write(head[sent++]!);
    }, everyMs);
    const giveUp = setTimeout(() => socket.destroy(), limitMs);
    socket.setEncoding('utf8').on('data', (text: string) => (answer += text));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve({ answer, closedAfterMs: Date.now() - startedAt });
    });
  });
}

/** A POST whose headers declare `declaredBytes` of body, none of which is sent; what came back within 5 s. */
function headersOnly(url: string, declaredBytes: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(Number(port), hostname, () =>
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: ${hostname}\r\ncontent-type: application/json\r\n` +
          `content-length: ${declaredBytes}\r\n\r\n`,
      ),
    );
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.setEncoding('utf8').on('data', (text: string) => {
      answer += text;
      if (answer.includes('}}')) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

describe('request limits', () => {
  const fleet = new Fleet();
  let server: Awaited<ReturnType<Fleet['server']>>;
  let gatewayUrl: string;
  let userKey: string;

  beforeAll(async () => {
    server = await fleet.server(['--max-body-bytes', '65536']);
    userKey = (await api(server.url, server.adminKey, 'POST', '/api/v1/keys', { name: 'user' })).json?.[
      'key'
    ] as string;
    gatewayUrl = (await fleet.gateway(server.url, server.adminKey, 'sec', ['--max-body-bytes', '65536'])).url;
  });

  afterAll(() => fleet.close());

  it('answers 413 to bodies over the limit, declared or chunked, on /v1, /api/v1 and the worker protocol', async () => {
    const user = { authorization: `Bearer ${userKey}` };
    for (const base of [server.url, gatewayUrl]) {
      const declared = await send(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: user,
        body: chatOfBytes(70_000),
      });
      expect(declared.status).toBe(413);
      expect(errorCode(declared)).toBe('request_too_large');
      const chunked = await send(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...user, 'transfer-encoding': 'chunked' },
        body: chatOfBytes(70_000),
      });
      expect(chunked.status).toBe(413);
      // Under the limit it is not refused for its size.
      const small = await send(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: user,
        body: chatOfBytes(1000),
      });
      expect(small.status).not.toBe(413);
    }
    // The management API's limit is 1 MiB.
    const management = await api(server.url, server.adminKey, 'POST', '/api/v1/keys', {
      name: 'x'.repeat(1024 * 1024 + 1),
    });
    expect(management.status).toBe(413);
    const register = await send(`${server.url}/api/v1/worker/register`, {
      method: 'POST',
      body: JSON.stringify({
        ...registerBody(server.joinToken, 'big'),
        labels: { pad: 'x'.repeat(1024 * 1024) },
      }),
    });
    expect(register.status).toBe(413);
  });

  it('refuses a body without a credential before reading it, and oversized headers with 431', async () => {
    for (const base of [server.url, gatewayUrl]) {
      // Declares 4 MiB, sends the headers only: the 401 comes without waiting for the body.
      const anonymous = await headersOnly(base, 4 * 1024 * 1024);
      expect(anonymous).toMatch(/^HTTP\/1\.1 401 /);
      const huge = await send(`${base}/v1/models`, {
        headers: { authorization: `Bearer ${userKey}`, 'x-padding': 'a'.repeat(20_000) },
      });
      expect(huge.status).toBe(431);
      expect(errorCode(huge)).toBe('headers_too_large');
    }
  });

  it('cuts off a client that sends its headers byte by byte (slowloris), and keeps serving others', async () => {
    const limitMs = serverTimeouts.headersTimeoutMs + 10_000;
    const slow = [server.url, gatewayUrl].map((base) => slowloris(base, 200, limitMs));
    // Meanwhile others are served.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (const base of [server.url, gatewayUrl]) {
      expect((await send(`${base}/health`)).status).toBe(200);
    }
    for (const { answer, closedAfterMs } of await Promise.all(slow)) {
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toContain('request_timeout');
      expect(closedAfterMs).toBeGreaterThanOrEqual(serverTimeouts.headersTimeoutMs - 500);
      expect(closedAfterMs).toBeLessThan(limitMs);
    }
  }, 60_000);
});
