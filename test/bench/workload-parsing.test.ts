/** Table tests of token distributions, the seeded generator, dataset lines and flag validation. */
import { describe, expect, it } from 'vitest';
import { parseBenchOptions } from '../../src/bench/bench-options.js';
import { parseDataset } from '../../src/bench/dataset.js';
import { seededRandom } from '../../src/bench/seeded-random.js';
import { parseTokenDistribution, sampleTokens } from '../../src/bench/token-distribution.js';
import { endpointUrl } from '../../src/bench/run-bench.js';

describe('token distributions', () => {
  it.each([
    { text: '512', expected: { kind: 'fixed', tokens: 512 } },
    { text: 'uniform:128-1024', expected: { kind: 'uniform', min: 128, max: 1024 } },
    { text: 'normal:512,64', expected: { kind: 'normal', mean: 512, std: 64 } },
  ])('parses $text', ({ text, expected }) => {
    expect(parseTokenDistribution(text, 'prompt-tokens')).toEqual(expected);
  });

  it.each(['0', '-5', '1.5', 'uniform:9-3', 'uniform:5', 'normal:10', 'zipf:3', 'abc', ''])(
    'refuses "%s"',
    (text) => {
      expect(() => parseTokenDistribution(text, 'prompt-tokens')).toThrow(/--prompt-tokens/);
    },
  );

  it('samples within the range, reproducibly for a seed', () => {
    const draw = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 200 }, () => sampleTokens({ kind: 'uniform', min: 10, max: 20 }, random));
    };
    const a = draw(7);
    expect(a).toEqual(draw(7));
    expect(a).not.toEqual(draw(8));
    expect(Math.min(...a)).toBe(10);
    expect(Math.max(...a)).toBe(20);
    const random = seededRandom(1);
    const normal = Array.from({ length: 2000 }, () =>
      sampleTokens({ kind: 'normal', mean: 100, std: 10 }, random),
    );
    const mean = normal.reduce((s, v) => s + v, 0) / normal.length;
    expect(mean).toBeGreaterThan(98);
    expect(mean).toBeLessThan(102);
    expect(sampleTokens({ kind: 'normal', mean: 1, std: 50 }, random)).toBeGreaterThanOrEqual(1);
  });
});

describe('dataset lines', () => {
  it('reads ShareGPT and OpenAI-messages lines up to the first user turn', () => {
    const text = [
      JSON.stringify({
        conversations: [
          { from: 'human', value: 'Hi there' },
          { from: 'gpt', value: 'x'.repeat(400) },
          { from: 'human', value: 'more' },
        ],
      }),
      '',
      JSON.stringify({
        messages: [
          { role: 'system', content: 'Be brief' },
          { role: 'user', content: 'Why?' },
        ],
        max_tokens: 7,
      }),
      JSON.stringify({ conversations: [{ from: 'gpt', value: 'no user turn' }] }),
    ].join('\n');
    const entries = parseDataset(text, 'd.jsonl');
    expect(entries).toEqual([
      { messages: [{ role: 'user', content: 'Hi there' }], maxTokens: 100, explicitMaxTokens: false },
      {
        messages: [
          { role: 'system', content: 'Be brief' },
          { role: 'user', content: 'Why?' },
        ],
        maxTokens: 7,
        explicitMaxTokens: true,
      },
    ]);
  });

  it.each([
    { text: '{"conversations": [', error: /d.jsonl:1: not valid JSON/ },
    { text: '\n{"prompt": "x"}', error: /d.jsonl:2: expected/ },
    { text: '{"conversations":[{"from":"gpt","value":"a"}]}', error: /no conversation with a user turn/ },
  ])('refuses $text', ({ text, error }) => {
    expect(() => parseDataset(text, 'd.jsonl')).toThrow(error);
  });
});

describe('bench flags', () => {
  const base = { url: 'http://127.0.0.1:1', model: 'm', requests: '4' };
  it('defaults to concurrency 1, 256 prompt and 128 output tokens, ignore_eos, chat', () => {
    const o = parseBenchOptions(base);
    expect(o).toMatchObject({
      concurrency: [1],
      rates: null,
      requests: 4,
      durationS: null,
      promptTokens: { kind: 'fixed', tokens: 256 },
      outputTokens: { kind: 'fixed', tokens: 128 },
      ignoreEos: true,
      api: 'chat',
      apiKey: null,
    });
  });

  it('reads lists, rates, SLOs and the key from the environment', () => {
    const o = parseBenchOptions(
      { ...base, rate: '1,2.5', arrival: 'constant', 'slo-ttft-ms': '500', 'find-max-rate': true },
      { EDGEFLEET_BENCH_API_KEY: 'k' },
    );
    expect(o).toMatchObject({
      rates: [1, 2.5],
      concurrency: null,
      arrival: 'constant',
      slo: { ttftMs: 500, tpotMs: null },
      apiKey: 'k',
    });
  });

  it.each([
    { flags: { model: 'm', requests: '1' }, error: /--url is required/ },
    { flags: { url: 'ftp://x', model: 'm', requests: '1' }, error: /--url must be http/ },
    { flags: { url: 'http://x', requests: '1' }, error: /--model is required/ },
    { flags: { ...base, requests: undefined }, error: /--requests or --duration is required/ },
    { flags: { ...base, concurrency: '1', rate: '2' }, error: /exclude each other/ },
    { flags: { ...base, concurrency: '1,0' }, error: /--concurrency must be a positive integer/ },
    { flags: { ...base, 'find-max-rate': true }, error: /needs --slo-ttft-ms/ },
    { flags: { ...base, arrival: 'constant' }, error: /--arrival applies only/ },
    { flags: { ...base, 'shared-prefix-tokens': '300' }, error: /below the prompt length/ },
    { flags: { ...base, dataset: 'd.jsonl', 'prompt-tokens': '5' }, error: /exclude each other/ },
    { flags: { ...base, 'min-goodput': '1.5' }, error: /--min-goodput/ },
  ])('refuses $flags', ({ flags, error }) => {
    expect(() => parseBenchOptions(flags)).toThrow(error);
  });

  it.each([
    ['http://h:1', 'http://h:1/v1/chat/completions'],
    ['http://h:1/', 'http://h:1/v1/chat/completions'],
    ['http://h:1/v1', 'http://h:1/v1/chat/completions'],
    ['http://h:1/proxy/v1/', 'http://h:1/proxy/v1/chat/completions'],
  ])('sends %s requests to %s', (url, expected) => {
    expect(endpointUrl(url, 'chat')).toBe(expected);
    expect(endpointUrl(url, 'completions')).toBe(expected.replace('chat/completions', 'completions'));
  });
});
