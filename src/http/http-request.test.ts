import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oneRequestPerConnection, type OneShotServer } from '../../test/helpers/http-servers.js';
import { HttpClient, HttpRequestError } from './http-request.js';

/** Against a server that resets a request sent on a kept-alive connection it is done with. */
describe('HttpClient on a server that closes pooled connections', () => {
  let upstream: OneShotServer;
  const client = new HttpClient();
  beforeAll(async () => {
    upstream = await oneRequestPerConnection('application/json', '{"ok":true}');
  });
  afterAll(async () => {
    client.close();
    await upstream.close();
  });

  it('sends a GET again on a new connection, but fails a POST, which may not be safe to repeat', async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await client.request(`${upstream.url}/routes`, { method: 'GET', timeoutMs: 5000 });
      expect(answer).toMatchObject({ status: 200, ok: true, text: '{"ok":true}' });
    }
    expect(upstream.counts()).toEqual({ served: 3, resets: 2 });

    const post = () =>
      client.request(`${upstream.url}/usage`, { method: 'POST', body: '{}', timeoutMs: 5000 });
    await expect(post()).rejects.toMatchObject({ name: 'HttpRequestError', code: 'ECONNRESET' });
    expect(await post()).toMatchObject({ status: 200 }); // the reset connection left the pool
    expect(upstream.counts()).toEqual({ served: 4, resets: 3 });
    await expect(post().catch((error: unknown) => error)).resolves.toBeInstanceOf(HttpRequestError);
  });
});
