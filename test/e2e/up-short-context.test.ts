import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { makeTestModel } from '../helpers/models.js';
import { startEdgeFleet } from '../helpers/edgefleet-process.js';

describe('edgefleet up with a model trained for less than the default context', () => {
  it('runs it with the context it was trained for when --context is not given', async () => {
    const model = await makeTestModel({ contextLength: 256 });
    // Not ready (the deployment stays pending) if up asked for its default 4096 tokens.
    const server = await startEdgeFleet(['--model', model.path, '--name', 'short', '--offline'], {
      readyTimeoutMs: 30_000,
    });
    try {
      const client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
      const reply = await client.completions.create({ model: 'short', prompt: 'hello', max_tokens: 4 });
      expect(reply.choices[0]?.text.length).toBeGreaterThan(0);
      await expect(
        client.completions.create({ model: 'short', prompt: 'word '.repeat(400), max_tokens: 4 }),
      ).rejects.toMatchObject({
        status: 400,
        message: expect.stringContaining('maximum context length is 256'),
      });
    } finally {
      await server.stop();
    }
  }, 60_000);
});
