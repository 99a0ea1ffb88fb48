import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../telemetry/logger.js';
import { engineDefaults } from './engine-options.js';
import { EngineServer } from './engine-server.js';

/** The embedded engine's HTTP routes that need no model loaded (it listens while the model loads). */
const log = createLogger('test');
log.level = 'silent';
const running: EngineServer[] = [];

afterEach(async () => {
  for (const engine of running.splice(0)) {
    engine.server.closeAllConnections();
    await new Promise((resolve) => engine.server.close(resolve));
  }
});

async function startEngine(apiKey?: string): Promise<string> {
  const engine = new EngineServer(
    {
      ...engineDefaults,
      modelPath: '/nonexistent.gguf',
      modelId: 'm',
      threads: 1,
      meta: {},
      ...(apiKey !== undefined && { apiKey }),
    },
    log,
  );
  running.push(engine);
  engine.server.listen(0, '127.0.0.1');
  await once(engine.server, 'listening');
  return `http://127.0.0.1:${(engine.server.address() as AddressInfo).port}`;
}

describe('EngineServer', () => {
  it('answers HEAD /v1/models like GET without a body; other methods get 405', async () => {
    const url = await startEngine();
    const get = await fetch(`${url}/v1/models`);
    const body = await get.text();
    expect(get.status).toBe(200);
    const head = await fetch(`${url}/v1/models`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('application/json');
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
    expect(await head.text()).toBe('');
    const post = await fetch(`${url}/v1/models`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('wants its key on HEAD /v1/models as on GET', async () => {
    const url = await startEngine('ef_engine_test');
    expect((await fetch(`${url}/v1/models`, { method: 'HEAD' })).status).toBe(401);
    const head = await fetch(`${url}/v1/models`, {
      method: 'HEAD',
      headers: { authorization: 'Bearer ef_engine_test' },
    });
    expect(head.status).toBe(200);
  });
});
