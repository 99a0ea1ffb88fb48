import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendError, sendJson } from '../../http/respond.js';
import type { KeyPrincipal } from '../../spec/api-keys.js';
import { KeyGuard } from './key-guard.js';
import { LocalRateLimiter } from './local-rate-limiter.js';

const app: KeyPrincipal = {
  keyId: 'k1',
  name: 'app',
  role: 'inference',
  allowedModels: ['chat'],
  rpm: 1,
  tpm: null,
  tokenBudget: null,
  region: null,
  tokensUsed: 0,
};

/** The guard's refusals as a client sees them through the one error responder. */
describe('KeyGuard refusals over HTTP', () => {
  const guard = new KeyGuard({
    lookup: (secret) => Promise.resolve(secret === 'ef_key_app' ? app : null),
    limiter: new LocalRateLimiter(),
  });
  const server = createServer((request, response) => {
    const model = new URL(request.url ?? '/', 'http://x').searchParams.get('model') ?? '';
    guard
      .authenticate(request.headers.authorization)
      .then((principal) => guard.admit(principal, model))
      .then(() => sendJson(response, 200, { ok: true }))
      .catch((error: unknown) => sendError(response, error));
  });
  let url = '';
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const call = (model: string, key: string | null = 'ef_key_app') =>
    fetch(`${url}/?model=${model}`, key === null ? {} : { headers: { authorization: `Bearer ${key}` } });

  it('answers 401, 403, then 429 with retry-after in seconds and the OpenAI error shape', async () => {
    expect((await call('chat', null)).status).toBe(401);
    expect((await call('chat', 'ef_key_revoked')).status).toBe(401);
    const forbidden = await call('other');
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('retry-after')).toBeNull();
    expect((await call('chat')).status).toBe(200);
    const limited = await call('chat');
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 120).toBe(true);
    expect(await limited.json()).toEqual({
      error: {
        message: expect.stringMatching(/limit of 1 requests per minute; retry after \d+ s/) as unknown,
        type: 'rate_limit_error',
        param: null,
        code: 'rate_limited',
      },
    });
  });
});
