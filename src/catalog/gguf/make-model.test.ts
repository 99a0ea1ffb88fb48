import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { r1Tokens } from './chat-templates.js';
import { ggufArchitecture } from './gguf-architecture.js';
import { makeModel } from './make-model.js';
import type { MakeModelOptions } from './model-shape.js';
import { readGgufHeader } from './read-gguf-header.js';

const ANSWER = 'Hello! I am a tiny test model and this answer is always the same.';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefleet-make-model-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('makeModel', () => {
  it('writes a llama GGUF with the keys llama.cpp needs, in their exact types', async () => {
    const model = await makeModel(join(dir, 'toy.gguf'));
    expect(model.expectedText).toBe(ANSWER);
    expect(model.fullChainText).toBe(ANSWER);
    expect(model.expectedReasoning).toBeUndefined();
    expect(model.chainTokenIds).toHaveLength(16);
    expect(new Set(model.chainTokenIds).size).toBe(16);
    expect(model.chainTokenIds).not.toContain(model.eosTokenId);

    const header = await readGgufHeader(model.path);
    const type = (key: string): string | undefined => header.metadata.get(key)?.type;
    expect(header.version).toBe(3);
    expect(header.metadata.get('general.architecture')).toEqual({ type: 'string', value: 'llama' });
    for (const key of [
      'llama.context_length',
      'llama.embedding_length',
      'llama.block_count',
      'llama.feed_forward_length',
      'llama.attention.head_count',
      'llama.attention.head_count_kv',
      'llama.rope.dimension_count',
      'tokenizer.ggml.bos_token_id',
      'tokenizer.ggml.eos_token_id',
    ]) {
      expect(type(key), key).toBe('u32');
    }
    expect(type('llama.attention.layer_norm_rms_epsilon')).toBe('f32');
    expect(header.metadata.get('tokenizer.ggml.model')).toEqual({ type: 'string', value: 'llama' });
    const tokens = header.metadata.get('tokenizer.ggml.tokens');
    expect(tokens?.type === 'array' && tokens.itemType === 'string' && new Set(tokens.value).size).toBe(
      model.vocabSize,
    );

    const arch = ggufArchitecture(header);
    expect(arch).toMatchObject({
      architecture: 'llama',
      blockCount: 2,
      embeddingLength: 64,
      feedForwardLength: 256,
      headCount: 4,
      headCountKv: 4,
      keyLength: 16,
      contextLength: 4096,
      vocabSize: model.vocabSize,
      fileType: 0,
      fileTypeName: 'ALL_F32',
      parameterCount: model.parameters,
      tensorTypes: { F32: 2 + 9 * 2 + 1 },
    });
    expect(arch.chatTemplate).toBe(model.chatTemplate);
    expect(model.bytes).toBeLessThan(2_000_000);
  });

  it('embeds a chat template that renders to the tags in the vocabulary', async () => {
    const plain = await makeModel(join(dir, 'plain.gguf'), { type: 'q8_0' });
    const think = await makeModel(join(dir, 'think.gguf'), { think: true, kvHeads: 2, type: 'f16' });
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Who are you?' },
    ];
    const render = (template: string): string =>
      new Template(template).render({
        messages,
        add_generation_prompt: true,
        bos_token: r1Tokens.bos,
        eos_token: r1Tokens.eos,
      });
    expect(render(plain.chatTemplate)).toBe(`${r1Tokens.bos}Be brief.<｜User｜>Who are you?<｜Assistant｜>`);
    expect(render(think.chatTemplate)).toBe(
      `${r1Tokens.bos}Be brief.<｜User｜>Who are you?<｜Assistant｜><think>\n`,
    );
    expect(render(think.chatTemplate).endsWith(think.generationPromptSuffix)).toBe(true);

    expect(think.expectedText).toBe(`Okay, let me recall my fixed reply.\n</think>\n\n${ANSWER}`);
    expect(think.fullChainText).toBe(`<think>\n${think.expectedText}`);
    expect(think.expectedReasoning).toBe('Okay, let me recall my fixed reply.');
    expect(think.expectedContent).toBe(ANSWER);
    expect(ggufArchitecture(await readGgufHeader(think.path))).toMatchObject({ headCountKv: 2, fileType: 1 });
    expect(ggufArchitecture(await readGgufHeader(plain.path)).tensorTypes).toEqual({ F32: 5, Q8_0: 16 });
  });

  it('pads the toy vocabulary to a requested size', async () => {
    const model = await makeModel(join(dir, 'big-vocab.gguf'), { vocabSize: 5000, hidden: 32, heads: 2 });
    expect(model.vocabSize).toBe(5000);
    expect(ggufArchitecture(await readGgufHeader(model.path)).vocabSize).toBe(5000);
  });

  it('refuses shapes llama.cpp would abort on, before writing anything', async () => {
    const refusals: [MakeModelOptions, RegExp][] = [
      [{ hidden: 66 }, /multiple of heads/],
      [{ hidden: 36, heads: 4 }, /head size .* must be even/],
      [{ heads: 4, kvHeads: 3 }, /multiple of kvHeads/],
      [{ heads: 2, kvHeads: 4 }, /multiple of kvHeads/],
      [{ type: 'q8_0', hidden: 48 }, /multiples of 32/],
      [{ type: 'q8_0', ffn: 100 }, /multiples of 32/],
      [{ hidden: 16 }, /hidden must be an integer from 32/],
      [{ layers: 0 }, /layers must be/],
      [{ layers: 1.5 }, /layers must be/],
      [{ ffn: -1 }, /ffn must be/],
      [{ contextLength: 8 }, /contextLength must be/],
      [{ layers: 256, hidden: 16_384, heads: 128 }, /parameters is more than/],
      [{ vocab: 'gpt2' as never }, /vocab must be/],
      [{ type: 'q4_0' as never }, /type must be/],
      [{ vocab: 'qwen2', vocabSize: 1000 }, /applies to the toy vocab/],
      [{ vocabSize: 10 }, /toy vocabulary size must be/],
    ];
    for (const [options, message] of refusals) {
      const error = await makeModel(join(dir, 'refused.gguf'), options).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, JSON.stringify(options)).toBeInstanceOf(EdgeFleetError);
      expect((error as EdgeFleetError).code).toBe('invalid_argument');
      expect((error as EdgeFleetError).message).toMatch(message);
    }
    expect(existsSync(join(dir, 'refused.gguf'))).toBe(false);
    expect((await readdir(dir)).filter((f) => f.includes('partial'))).toEqual([]);
  });
});
