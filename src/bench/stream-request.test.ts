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
