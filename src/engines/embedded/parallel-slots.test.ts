import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestModel, type TestModel } from '../../../test/helpers/models.js';
import { engineDefaults } from './engine-options.js';
import { prepareChat } from './generation-request.js';
import { LlamaRuntime } from './llama-runtime.js';
import { generateText } from './text-generator.js';

/**
 * Two slots of the real engine (`--parallel 2 --context 512`) with a generated model: a new prompt on
 * slot 0 lands in the same batch as slot 1's next token, over and over. llama.cpp decodes such a batch in
 * two micro-batches and then reorders the two outputs lazily, on first access, without a lock; the two
 * slots sample in parallel worker threads, so before the fix they sometimes got each other's logits (one
 * answer "Hello!Hello! I am…", the other " I am…"). The Qwen2 vocabulary (152k rows) makes that reorder
 * slow enough to hit: before the fix 2 to 28 of 200 pairs went wrong here (fewer on a busy machine).
 */
describe('embedded engine: a prompt batched with another slot’s decode step', () => {
  let made: TestModel;
  let runtime: LlamaRuntime;

  beforeAll(async () => {
    made = await makeTestModel({ vocab: 'qwen2' });
    runtime = await LlamaRuntime.load(
      {
        ...engineDefaults,
        modelPath: made.path,
        modelId: 'm',
        threads: 1,
        parallel: 2,
        contextSize: 512,
        gpu: false,
        meta: {},
      },
      pino({ level: 'silent' }),
    );
  }, 60_000);

  afterAll(async () => {
    await runtime?.dispose();
  });

  function generate(slot: number, userText: string, onFirstText?: () => void): Promise<string> {
    const request = prepareChat(runtime, {
      model: 'm',
      messages: [{ role: 'user', content: userText }],
      temperature: 0,
    });
    let text = '';
    return generateText(
      runtime.model,
      runtime.sequences[slot]!,
      runtime.gate,
      request.promptTokens,
      request.params,
      {
        signal: new AbortController().signal,
        onText: (piece) => {
          if (text === '') onFirstText?.();
          text += piece;
        },
      },
    ).then(() => text);
  }

  it('gives each slot its own tokens', async () => {
    const pairs = 300;
    const wrong: string[] = [];
    for (let i = 0; i < pairs; i++) {
      // Slot 1 starts generating; once it has its first token, slot 0 gets a prompt it has not cached,
      // a varying number of event-loop turns later, so that the prompt meets slot 1's next step in a batch.
      let firstText: () => void = () => undefined;
      const started = new Promise<void>((resolve) => (firstText = resolve));
      const second = generate(1, `hello ${i % 7}`, firstText);
      await started;
      for (let hop = 0; hop < i % 8; hop++) await new Promise((resolve) => setImmediate(resolve));
      if (i % 3 === 1) await new Promise((resolve) => setTimeout(resolve, i % 5));
      const first = generate(0, `tell me something ${i} please`);
      const answers = await Promise.all([first, second]);
      if (answers.some((answer) => answer !== made.expectedText)) wrong.push(answers.join(' | '));
    }
    expect(wrong, `${wrong.length} of ${pairs} pairs answered wrong`).toEqual([]);
  }, 180_000); // 300 pairs: 67 s on a busy 2-core machine (the point is which tokens, not how fast)
});
