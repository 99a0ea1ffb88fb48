import { getLlama, type Llama, type LlamaContext, type LlamaModel, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestModel, type TestModel } from '../../../test/helpers/models.js';
import { BatchGate } from './batch-gate.js';
import { generateText, type SamplingParams } from './text-generator.js';

const greedy: SamplingParams = {
  maxTokens: 64,
  temperature: 0,
  presencePenalty: 0,
  frequencyPenalty: 0,
  repetitionPenalty: 1,
  stop: [],
  ignoreEos: false,
};

/** generateText on a real llama.cpp context with a generated deterministic model. */
describe('generateText', () => {
  let made: TestModel;
  let llama: Llama;
  let model: LlamaModel;
  let context: LlamaContext;
  let gate: BatchGate;

  beforeAll(async () => {
    made = await makeTestModel({});
    llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, maxThreads: 1 });
    model = await llama.loadModel({ modelPath: made.path });
    gate = new BatchGate();
    context = await model.createContext({
      sequences: 3,
      contextSize: 4096,
      threads: { ideal: 1, min: 1 },
      batching: { dispatchSchedule: (dispatch) => gate.schedule(dispatch) },
    });
  });

  afterAll(async () => {
    await llama?.dispose();
  });

  const prompt = (text: string) => model.tokenize(text, true) as Token[];

  async function run(
    text: string,
    params: Partial<SamplingParams> = {},
    signal = new AbortController().signal,
  ) {
    const sequence = context.getSequence();
    let out = '';
    try {
      const result = await generateText(
        model,
        sequence,
        gate,
        prompt(text),
        { ...greedy, ...params },
        {
          onText: (piece) => (out += piece),
          signal,
        },
      );
      return { ...result, text: out, sequence };
    } finally {
      sequence.dispose();
    }
  }

  it('generates the exact chain and stops at EOS', async () => {
    const result = await run('hello');
    expect(result.text).toBe(made.fullChainText);
    expect(result.finishReason).toBe('stop');
    expect(result.completionTokens).toBe(model.tokenize(made.fullChainText, false).length);
  });

  it('stops at max_tokens with finish reason length', async () => {
    const result = await run('hello', { maxTokens: 2 });
    expect(result.finishReason).toBe('length');
    expect(result.completionTokens).toBe(2);
    expect(made.fullChainText.startsWith(result.text)).toBe(true);
  });

  it('cuts at a stop string and never emits it', async () => {
    const word = made.fullChainText.split(' ')[3]!;
    const result = await run('hello', { stop: [word] });
    expect(result.finishReason).toBe('stop');
    expect(result.text).toBe(made.fullChainText.slice(0, made.fullChainText.indexOf(word)));
  });

  it('keeps generating past EOS with ignoreEos', async () => {
    const result = await run('hello', { maxTokens: 100, ignoreEos: true });
    expect(result.completionTokens).toBe(100);
    expect(result.finishReason).toBe('length');
  });

  it('stops at once when the signal aborts', async () => {
    const abort = new AbortController();
    const sequence = context.getSequence();
    let pieces = 0;
    const result = await generateText(
      model,
      sequence,
      gate,
      prompt('hello'),
      { ...greedy, maxTokens: 3000, ignoreEos: true },
      {
        onText: () => {
          if (++pieces === 5) abort.abort();
        },
        signal: abort.signal,
      },
    );
    sequence.dispose();
    expect(result.completionTokens).toBeLessThan(10);
  });

  it('stops a long prompt after the batch in progress when the signal aborts', async () => {
    const tokens = prompt(' hello'.repeat(3000));
    expect(tokens.length).toBeGreaterThan(4 * context.batchSize);
    const abort = new AbortController();
    const sequence = context.getSequence();
    try {
      const running = generateText(model, sequence, gate, tokens, greedy, {
        onText: () => undefined,
        signal: abort.signal,
      });
      setImmediate(() => abort.abort()); // while the prompt is being evaluated
      const result = await running;
      expect(result.completionTokens).toBe(0);
      // At most the batch that was running when the client left (and maybe the next) was evaluated.
      expect(sequence.nextTokenIndex).toBeLessThanOrEqual(2 * context.batchSize);
    } finally {
      sequence.dispose();
    }
  });

  it('erases a stale slot cache without waiting for other streams to finish', async () => {
    // node-llama-cpp keeps its context lock while any decode is queued; the erase must not wait for the
    // two long streams below (without BatchGate.exclusive it waits until both end).
    const stale = context.getSequence();
    await generateText(model, stale, gate, prompt('hello, warm this slot'), greedy, {
      onText: () => undefined,
      signal: new AbortController().signal,
    });
    const longParams = { ...greedy, maxTokens: 1000, ignoreEos: true };
    const longEnds: number[] = [];
    const longs = [0, 1].map(async () => {
      const result = await run('hello', longParams);
      longEnds.push(performance.now());
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    let quick = '';
    const quickResult = await generateText(model, stale, gate, prompt('hello, another prompt'), greedy, {
      onText: (piece) => (quick += piece),
      signal: new AbortController().signal,
    });
    const quickEnd = performance.now();
    await Promise.all(longs);
    stale.dispose();
    expect(quickResult.cachedPromptTokens).toBeGreaterThan(0);
    expect(quick).toBe(made.fullChainText);
    expect(quickEnd).toBeLessThan(Math.min(...longEnds));
  });

  it('evaluates a long prompt in prefill chunks while another stream generates, which keeps getting tokens', async () => {
    const chunkedGate = new BatchGate(undefined, 16);
    const chunked = await model.createContext({
      sequences: 2,
      contextSize: 4096,
      threads: { ideal: 1, min: 1 },
      batching: { dispatchSchedule: (dispatch) => chunkedGate.schedule(dispatch) },
    });
    try {
      const stop = new AbortController();
      let generated = 0;
      let started: () => void = () => undefined;
      const generating = new Promise<void>((resolve) => (started = resolve));
      const other = generateText(
        model,
        chunked.getSequence(),
        chunkedGate,
        prompt('hello'),
        { ...greedy, maxTokens: 3000, ignoreEos: true },
        {
          onText: () => undefined,
          onToken: () => {
            if (++generated === 3) started();
          },
          signal: stop.signal,
        },
      );
      await generating;
      const long = prompt(' hello'.repeat(100));
      expect(long.length).toBeGreaterThan(chunked.batchSize);
      const before = generated;
      const result = await generateText(
        model,
        chunked.getSequence(),
        chunkedGate,
        long,
        { ...greedy, maxTokens: 1 },
        { onText: () => undefined, signal: new AbortController().signal },
      );
      const during = generated - before;
      stop.abort();
      await other;
      expect(result.completionTokens).toBe(1);
      // A part of 16 prompt tokens per decode: the other stream gets a token with most of them. Parts of a
      // whole batch (no prefill chunk) let it have about one per batch.
      expect(during).toBeGreaterThanOrEqual(long.length / 16 / 4);
    } finally {
      await chunked.dispose();
    }
  });
});
