import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestModel } from '../helpers/models.js';
import { metricValue, startEdgeFleet, type RunningEdgeFleet } from '../helpers/edgefleet-process.js';

/** A slot keeps its KV cache: a repeated prompt is not evaluated again. */
describe('edgefleet up: the prompt cache', () => {
  let server: RunningEdgeFleet;

  beforeAll(async () => {
    const model = await makeTestModel({});
    server = await startEdgeFleet([
      '--model',
      model.path,
      '--name',
      'm',
      '--parallel',
      '2',
      '--context',
      '2048',
      '--offline',
    ]);
  });

  afterAll(async () => {
    await server?.stop();
  });

  const complete = (prompt: string, extra: Record<string, unknown> = {}) =>
    fetch(`${server.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', prompt, temperature: 0, max_tokens: 4, ...extra }),
    }).then(async (response) => {
      expect(response.status).toBe(200);
      await response.text();
      return performance.now();
    });

  const cachedTokens = async () =>
    metricValue(
      await (await fetch(`${server.baseUrl}/metrics`)).text(),
      'edgefleet_engine_prompt_tokens_cached_total',
    ) ?? 0;

  it('reuses the cached prefix of a repeated prompt', async () => {
    const prompt = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu';
    await complete(prompt);
    await complete(prompt);
    const before = await cachedTokens();
    await complete(prompt);
    await complete(prompt);
    expect((await cachedTokens()) - before).toBeGreaterThan(10);
  });
});
