/**
 * `edgefleet bench` against `edgefleet up` serving a generated model with the Qwen2 tokenizer: prompts are
 * sized exactly (the engine's usage.prompt_tokens is the ground truth), ignore_eos gives exactly the asked
 * output length, and the token totals of the results (steps plus probe requests) equal the engine's own
 * /metrics counters.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBenchResult } from '../../src/spec/bench-result.js';
import { metricValue, startEdgeFleet, type RunningEdgeFleet } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { runCli } from './run-cli.js';

describe('edgefleet bench against edgefleet up', () => {
  let server: RunningEdgeFleet;
  beforeAll(async () => {
    const model = await makeTestModel({ vocab: 'qwen2' });
    server = await startEdgeFleet([
      '--model',
      model.path,
      '--name',
      'm',
      '--parallel',
      '2',
      '--context',
      '1024',
      '--offline',
    ]);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const counters = async () => {
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    return {
      prompt: metricValue(text, 'edgefleet_engine_prompt_tokens_total') ?? 0,
      generation: metricValue(text, 'edgefleet_engine_generation_tokens_total') ?? 0,
      cached: metricValue(text, 'edgefleet_engine_prompt_tokens_cached_total') ?? 0,
    };
  };

  it('sizes prompts exactly and its token totals match the engine counters', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'ef-bench-')), 'results.json');
    const before = await counters();
    const run = await runCli([
      'bench',
      '--url',
      server.baseUrl,
      '--model',
      'm',
      '--concurrency',
      '1,2',
      '--requests',
      '4',
      '--prompt-tokens',
      '48',
      '--output-tokens',
      '24',
      '--shared-prefix-tokens',
      '16',
      '--out',
      out,
    ]);
    expect(run.stderr).not.toMatch(/edgefleet bench:/);
    expect(run.code).toBe(0);
    const after = await counters();
    const result = parseBenchResult(JSON.parse(await readFile(out, 'utf8')));
    expect(result.config).toMatchObject({
      tokenizer: 'usage-probe',
      prompt_sizing_exact: true,
      ignore_eos: true,
    });
    for (const step of result.steps) {
      expect(step).toMatchObject({ completed: 4, failed: 0, token_count_source: 'usage' });
      expect(step.input_lens).toEqual([48, 48, 48, 48]);
      expect(step.output_lens).toEqual([24, 24, 24, 24]);
      expect(step.mean_ttft_ms).toBeGreaterThan(0);
      expect(step.mean_tpot_ms).toBeGreaterThan(0);
    }
    const input =
      result.steps.reduce((n, s) => n + s.total_input_tokens, 0) + result.config.probe_input_tokens;
    const output =
      result.steps.reduce((n, s) => n + s.total_output_tokens, 0) + result.config.probe_output_tokens;
    expect(input).toBe(2 * 4 * 48 + result.config.probe_input_tokens);
    expect(after.prompt - before.prompt).toBe(input);
    expect(after.generation - before.generation).toBe(output);
    // The 16-token shared system prefix is a real token prefix: the engine reuses it from its KV cache.
    expect(after.cached - before.cached).toBeGreaterThanOrEqual(16);
  });

  it('sizes completions-API prompts exactly too', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'ef-bench-')), 'results.json');
    const run = await runCli([
      'bench',
      '--url',
      `${server.baseUrl}/v1`,
      '--model',
      'm',
      '--api',
      'completions',
      '--requests',
      '3',
      '--prompt-tokens',
      '40',
      '--output-tokens',
      '8',
      '--out',
      out,
    ]);
    expect(run.code).toBe(0);
    const result = parseBenchResult(JSON.parse(await readFile(out, 'utf8')));
    expect(result.config).toMatchObject({ endpoint: 'completions', prompt_sizing_exact: true });
    expect(result.steps[0]!.input_lens).toEqual([40, 40, 40]);
    expect(result.steps[0]!.output_lens).toEqual([8, 8, 8]);
  });
});
