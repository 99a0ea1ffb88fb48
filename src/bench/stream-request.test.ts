import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamRequest } from './stream-request.js';

/**
 * An upstream that behaves like llama-server after a streamed answer: each connection serves one request
 * (with keep-alive headers), then any further request on it is reset before an answer.
 */
describe('streamRequest on a server that closes pooled connections', () => {
  let served = 0;
  let resets = 0;
  const server = createServer((socket) => {
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
      const events = [
        { choices: [{ delta: { content: 'Hi' }, finish_reason: null }] },
        {
          choices: [{ delta: {}, finish_reason: 'stop' }],
          usage: { prompt_tokens: 3, completion_tokens: 1 },
        },
      ];
      const body = `${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('')}data: [DONE]\n\n`;
      socket.write(
        'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nkeep-alive: timeout=5, max=100\r\n' +
          `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  });
  let url = '';
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
  });
  afterAll(() => server.close());

  it('sends a request again on a fresh connection instead of failing it', async () => {
    const clock0 = performance.now();
    for (let i = 0; i < 3; i++) {
      const outcome = await streamRequest({
        url,
        body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true },
        apiKey: null,
        timeoutMs: 5000,
        nowS: () => (performance.now() - clock0) / 1000,
      });
      expect(outcome).toMatchObject({
        ok: true,
        text: 'Hi',
        usage: { promptTokens: 3, completionTokens: 1 },
      });
    }
    expect({ served, resets }).toEqual({ served: 3, resets: 2 });
  });
});
