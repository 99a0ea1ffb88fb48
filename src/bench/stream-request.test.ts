import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oneRequestPerConnection, type OneShotServer } from '../../test/helpers/http-servers.js';
import { streamRequest } from './stream-request.js';

/** Against a server that closes pooled connections after each answer (as llama-server does after a stream). */
describe('streamRequest on a server that closes pooled connections', () => {
  const events = [
    { choices: [{ delta: { content: 'Hi' }, finish_reason: null }] },
    { choices: [{ delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1 } },
  ];
  let upstream: OneShotServer;
  beforeAll(async () => {
    upstream = await oneRequestPerConnection(
      'text/event-stream',
      `${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('')}data: [DONE]\n\n`,
    );
  });
  afterAll(() => upstream.close());

  it('sends a request again on a fresh connection instead of failing it', async () => {
    const clock0 = performance.now();
    for (let i = 0; i < 3; i++) {
      const outcome = await streamRequest({
        url: `${upstream.url}/v1/chat/completions`,
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
    expect(upstream.counts()).toEqual({ served: 3, resets: 2 });
  });
});

describe('streamRequest on an error answer', () => {
  it("gives the server's message in words, and a hint for a 401 sent without a key", async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_request, response) => {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          error: { message: 'missing API key', type: 'x', param: null, code: 'unauthorized' },
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/chat/completions`;
      const send = (apiKey: string | null) =>
        streamRequest({ url, body: { model: 'm' }, apiKey, timeoutMs: 5000, nowS: () => 0 });
      expect((await send(null)).error).toBe('HTTP 401: missing API key (pass --api-key)');
      expect((await send('k')).error).toBe('HTTP 401: missing API key');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
