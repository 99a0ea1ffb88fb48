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

  it('counts tokens and latencies in /metrics exactly as the responses report them', async () => {
    let prompt = 0;
    let completion = 0;
    for (const text of ['one two three', 'four five', 'six']) {
      const response = await fetch(`${server.baseUrl}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', prompt: text, temperature: 0, max_tokens: 6 }),
      });
      const body = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
      prompt += body.usage.prompt_tokens;
      completion += body.usage.completion_tokens;
    }
    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    expect(metricValue(metrics, 'edgefleet_engine_prompt_tokens_total')).toBe(prompt);
    expect(metricValue(metrics, 'edgefleet_engine_generation_tokens_total')).toBe(completion);
    expect(metricValue(metrics, 'edgefleet_engine_time_to_first_token_seconds_count')).toBe(3);
    expect(metricValue(metrics, 'edgefleet_engine_inter_token_latency_seconds_count')).toBe(completion - 3);
    expect(
      metricValue(metrics, 'edgefleet_engine_requests_total{endpoint="completion",finish_reason="length"'),
    ).toBe(3);
    expect(metricValue(metrics, 'edgefleet_engine_kv_cache_usage_ratio')).toBe(0);
    // --prefill-chunk auto on the CPU.
    expect(metricValue(metrics, 'edgefleet_engine_prefill_chunk_tokens')).toBe(64);
    expect(metricValue(metrics, 'edgefleet_engine_requests_running')).toBe(0);
    expect(
      metricValue(
        metrics,
        'edgefleet_gateway_requests_total{route="/v1/completions",model="m",site="local",status="200"}',
      ),
    ).toBe(3);
    // The gateway meters the same tokens the engine counted.
    expect(metricValue(metrics, 'edgefleet_gateway_tokens_total{model="m",site="local",kind="prompt"}')).toBe(
      prompt,
    );
    expect(
      metricValue(metrics, 'edgefleet_gateway_tokens_total{model="m",site="local",kind="completion"}'),
    ).toBe(completion);
  });

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
