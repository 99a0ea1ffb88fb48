import { Template } from '@huggingface/jinja';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestModel, type TestModel } from '../helpers/models.js';
import { startEdgeFleet, type RunningEdgeFleet } from '../helpers/edgefleet-process.js';

/**
 * End to end: the official openai client against `edgefleet up` serving generated deterministic models.
 * Greedy decoding of these models follows a fixed chain, so the exact text is known in advance.
 */
describe('edgefleet up: chat and completions through the openai client', () => {
  let plain: TestModel;
  let think: TestModel;
  let server: RunningEdgeFleet;
  let thinkServer: RunningEdgeFleet;
  let client: OpenAI;
  let thinkClient: OpenAI;
  let llama: Llama;
  let tokenizer: LlamaModel;

  beforeAll(async () => {
    plain = await makeTestModel({});
    think = await makeTestModel({ think: true });
    server = await startEdgeFleet([
      '--model',
      plain.path,
      '--name',
      'plain',
      '--context',
      '512',
      '--offline',
    ]);
    thinkServer = await startEdgeFleet([
      '--model',
      think.path,
      '--name',
      'thinker',
      '--context',
      '512',
      '--offline',
    ]);
    client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
    thinkClient = new OpenAI({ baseURL: `${thinkServer.baseUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
    llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, maxThreads: 1 });
    tokenizer = await llama.loadModel({ modelPath: plain.path });
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), thinkServer?.stop()]);
    await llama?.dispose();
  });

  /** Counts tokens the way the model's own tokenizer does (node-llama-cpp on the same GGUF). */
  function countTokens(text: string, withBos: boolean): number {
    const tokens = tokenizer.tokenize(text, true);
    const bos = tokenizer.tokens.bos;
    return tokens.length + (withBos && bos !== null && tokens[0] !== bos ? 1 : 0);
  }

  function renderChat(messages: Array<{ role: string; content: string }>): string {
    const source = tokenizer.fileInfo.metadata.tokenizer?.chat_template as string;
    return new Template(source).render({
      messages,
      add_generation_prompt: true,
      bos_token: tokenizer.tokens.bosString ?? '',
      eos_token: tokenizer.tokens.eosString ?? '',
    });
  }

  it('lists the served model in /v1/models', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['plain']);
  });

  it('answers a chat with the exact deterministic text and tokenizer-exact usage', async () => {
    const messages = [{ role: 'user' as const, content: 'hi there' }];
    const reply = await client.chat.completions.create({ model: 'plain', messages, temperature: 0 });
    expect(reply.choices[0]?.message.content).toBe(plain.expectedText);
    expect(reply.choices[0]?.finish_reason).toBe('stop');
    expect(reply.usage?.prompt_tokens).toBe(countTokens(renderChat(messages), true));
    expect(reply.usage?.completion_tokens).toBe(countTokens(plain.expectedText, false));
    expect(reply.usage?.total_tokens).toBe(
      (reply.usage?.prompt_tokens ?? 0) + (reply.usage?.completion_tokens ?? 0),
    );
  });

  it('streams the same text chunk by chunk, then usage, then [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'plain',
      messages: [{ role: 'user', content: 'hi there' }],
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let contentChunks = 0;
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content;
      if (delta) {
        text += delta;
        contentChunks++;
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(plain.expectedText);
    expect(contentChunks).toBeGreaterThan(3);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(countTokens(plain.expectedText, false));
  });

  it('streams no usage at all to a client that did not ask for it (the gateway asked the engine)', async () => {
    const response = await fetch(`${server.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'plain',
        messages: [{ role: 'user', content: 'hi there' }],
        temperature: 0,
        stream: true,
      }),
    });
    const events = (await response.text()).split('\n\n').filter((e) => e.startsWith('data: {'));
    const chunks = events.map((e) => JSON.parse(e.slice('data: '.length)) as Record<string, unknown>);
    expect(
      chunks.map((c) => (c['choices'] as { delta: { content?: string } }[])[0]?.delta.content ?? '').join(''),
    ).toBe(plain.expectedText);
    expect(chunks.filter((c) => 'usage' in c)).toEqual([]);
  });

  it('serves text completions with max_tokens and stop strings', async () => {
    const full = await client.completions.create({
      model: 'plain',
      prompt: 'hello',
      temperature: 0,
      max_tokens: 200,
    });
    const text = full.choices[0]?.text ?? '';
    expect(text.length).toBeGreaterThan(5);
    expect(full.usage?.prompt_tokens).toBe(countTokens('hello', true));
    expect(full.usage?.completion_tokens).toBe(countTokens(text, false));

    const short = await client.completions.create({
      model: 'plain',
      prompt: 'hello',
      temperature: 0,
      max_tokens: 3,
    });
    expect(short.choices[0]?.finish_reason).toBe('length');
    expect(short.usage?.completion_tokens).toBe(3);
    expect(text.startsWith(short.choices[0]?.text ?? '∅')).toBe(true);

    const stopAt = text.trim().split(/\s+/)[2]!;
    const stopped = await client.completions.create({
      model: 'plain',
      prompt: 'hello',
      temperature: 0,
      max_tokens: 200,
      stop: [stopAt],
    });
    expect(stopped.choices[0]?.finish_reason).toBe('stop');
    expect(stopped.choices[0]?.text).toBe(text.slice(0, text.indexOf(stopAt)));

    const stream = await client.completions.create({
      model: 'plain',
      prompt: 'hello',
      temperature: 0,
      max_tokens: 200,
      stream: true,
    });
    let streamed = '';
    for await (const chunk of stream) streamed += chunk.choices[0]?.text ?? '';
    expect(streamed).toBe(text);
  });

  it('samples reproducibly with a seed and honours temperature, top_p and penalties', async () => {
    const ask = (seed: number) =>
      client.completions.create({
        model: 'plain',
        prompt: 'hello',
        temperature: 1.5,
        top_p: 0.95,
        presence_penalty: 0.5,
        frequency_penalty: 0.5,
        seed,
        max_tokens: 24,
      });
    const [a, b] = [await ask(7), await ask(7)];
    expect(a.choices[0]?.text).toBe(b.choices[0]?.text);
    expect(a.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('splits DeepSeek-R1 reasoning into reasoning_content, streamed and not', async () => {
    const messages = [{ role: 'user' as const, content: 'why?' }];
    const reply = await thinkClient.chat.completions.create({ model: 'thinker', messages, temperature: 0 });
    const message = reply.choices[0]?.message as { content: string; reasoning_content?: string };
    expect(message.reasoning_content).toBe(think.expectedReasoning);
    expect(message.content).toBe(think.expectedContent);
    expect(message.content).not.toContain('<think>');

    const stream = await thinkClient.chat.completions.create({
      model: 'thinker',
      messages,
      temperature: 0,
      stream: true,
    });
    let reasoning = '';
    let content = '';
    let reasoningBeforeContent = true;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
      if (delta?.reasoning_content) {
        if (content !== '') reasoningBeforeContent = false;
        reasoning += delta.reasoning_content;
      }
      content += delta?.content ?? '';
    }
    expect(reasoning).toBe(think.expectedReasoning);
    expect(content).toBe(think.expectedContent);
    expect(reasoningBeforeContent).toBe(true);
  });

  it('runs concurrent requests in parallel slots (their generations overlap in time)', async () => {
    const spans = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const stream = await client.completions.create({
          model: 'plain',
          prompt: 'hello',
          temperature: 0,
          max_tokens: 300,
          stream: true,
          ignore_eos: true, // vLLM's extension, accepted by EdgeFleet
        } as OpenAI.CompletionCreateParamsStreaming);
        let first = 0;
        let last = 0;
        for await (const chunk of stream) {
          if (!chunk.choices[0]?.text) continue;
          last = performance.now();
          first ||= last;
        }
        return { first, last };
      }),
    );
    const latestStart = Math.max(...spans.map((s) => s.first));
    const earliestEnd = Math.min(...spans.map((s) => s.last));
    expect(latestStart).toBeLessThan(earliestEnd);
  });
});
