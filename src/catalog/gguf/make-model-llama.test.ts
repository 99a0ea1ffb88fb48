/**
 * The generated models really load and generate in llama.cpp (node-llama-cpp, CPU, one thread): greedy
 * decoding of the embedded chat template's prompt gives exactly `expectedText`, then EOS.
 */
import { Template } from '@huggingface/jinja';
import { getLlama, LlamaLogLevel, type Llama, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestModel, type TestModel } from '../../../test/helpers/models.js';
import { r1Tokens } from './chat-templates.js';
import type { MakeModelOptions } from './model-shape.js';

let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({
    gpu: false,
    build: 'never',
    skipDownload: true,
    maxThreads: 1,
    logLevel: LlamaLogLevel.error,
  });
});
afterAll(async () => {
  await llama?.dispose();
});

function chatPrompt(model: TestModel, content = 'Who are you?'): string {
  return new Template(model.chatTemplate).render({
    messages: [{ role: 'user', content }],
    add_generation_prompt: true,
    bos_token: r1Tokens.bos,
    eos_token: r1Tokens.eos,
  });
}

interface Generation {
  tokens: number[];
  text: string;
  endedWithEos: boolean;
  loadMs: number;
}

async function generate(
  model: TestModel,
  prompt: string,
  { temperature = 0, maxTokens = 200 }: { temperature?: number; maxTokens?: number } = {},
): Promise<Generation> {
  const started = performance.now();
  const loaded = await llama.loadModel({ modelPath: model.path });
  const loadMs = performance.now() - started;
  try {
    const context = await loaded.createContext({ contextSize: 512, threads: 1 });
    try {
      const sequence = context.getSequence();
      const tokens: Token[] = [];
      let endedWithEos = false;
      const input = loaded.tokenize(prompt, true);
      for await (const token of sequence.evaluate(input, { temperature, seed: 7, yieldEogToken: true })) {
        if (loaded.isEogToken(token)) {
          endedWithEos = token === model.eosTokenId;
          break;
        }
        tokens.push(token);
        if (tokens.length >= maxTokens) break;
      }
      return { tokens, text: loaded.detokenize(tokens), endedWithEos, loadMs };
    } finally {
      await context.dispose();
    }
  } finally {
    await loaded.dispose();
  }
}

async function expectChatAnswer(options: MakeModelOptions): Promise<Generation> {
  const model = await makeTestModel(options);
  const result = await generate(model, chatPrompt(model));
  expect(result.text).toBe(model.expectedText);
  expect(result.endedWithEos).toBe(true);
  expect(model.chainTokenIds.slice(-result.tokens.length)).toEqual(result.tokens);
  return result;
}

describe('generated models in llama.cpp', () => {
  it('toy f32 (the default) loads fast and answers the fixed text, then EOS, even with max tokens to spare', async () => {
    const result = await expectChatAnswer({});
    expect(result.text).toBe('Hello! I am a tiny test model and this answer is always the same.');
    expect(result.tokens).toHaveLength(16);
    expect(result.loadMs).toBeLessThan(1000);
  });

  it('toy f16 and q8_0 answer the same', async () => {
    await expectChatAnswer({ type: 'f16' });
    await expectChatAnswer({ type: 'q8_0', layers: 3, kvHeads: 1 });
  });

  it('a raw prompt ending in an ordinary token gets the whole chain; sampling at temperature 1 follows it too', async () => {
    const model = await makeTestModel({});
    const raw = await generate(model, 'Say the sentence:');
    expect(raw.text).toBe(model.fullChainText);
    const sampled = await generate(model, chatPrompt(model), { temperature: 1 });
    expect(sampled.text).toBe(model.expectedText);
    const cut = await generate(model, chatPrompt(model), { maxTokens: 5 });
    expect(cut.text).toBe('Hello! I am a');
    expect(cut.endedWithEos).toBe(false);
  });

  it('think mode: reasoning, </think>, then the answer', async () => {
    const result = await expectChatAnswer({ think: true });
    const model = await makeTestModel({ think: true });
    const [reasoning, content] = result.text.split('</think>');
    expect(reasoning?.trim()).toBe(model.expectedReasoning);
    expect(content?.trim()).toBe(model.expectedContent);
    // Without the template's forced "<think>\n" the model opens the think block itself.
    expect((await generate(model, 'Question:')).text).toBe(model.fullChainText);
  });

  it('real Qwen2 and DeepSeek vocabularies tokenize the template and answer in real tokens', async () => {
    const qwen = await expectChatAnswer({ vocab: 'qwen2' });
    expect(qwen.tokens).toHaveLength(16);
    await expectChatAnswer({ vocab: 'qwen2', think: true, type: 'q8_0' });
    await expectChatAnswer({ vocab: 'deepseek', think: true, type: 'f16' });
  });
});
