import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServers, listen, listenOnFetchBlockedPort } from '../../../test/helpers/http-servers.js';
import { sendError } from '../../http/respond.js';
import type { RouteTable } from '../../spec/route-table.js';
import type { UsageEvent } from '../../spec/usage-event.js';
import { createLogger } from '../../telemetry/logger.js';
import { FleetGateway } from '../fleet-gateway.js';

/**
 * An engine that never reports usage (it ignores `stream_options`, as some engines do) but offers vLLM's
 * tokenizer API: the gateway must count the answer with that tokenizer, report the usage to the client
 * (a last chunk for a stream that asked for it, `usage` in a JSON answer) and journal it as counted.
 */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

const log = createLogger('test');
log.level = 'silent';
afterEach(closeServers);

/** The double's tokenizer: tags, words, single spaces and punctuation are one token each. */
const tokenize = (text: string) => text.match(/<[^>]+>|[A-Za-z]+|\s|[^\sA-Za-z]/g) ?? [];
/** The double's chat template (vLLM renders the model's template for `messages`). */
const render = (messages: { role: string; content: string }[]) =>
  `<s>${messages.map((m) => `<|${m.role}|>${m.content}`).join('')}<|assistant|>`;
const answerWords = ['The', ' answer', ' is', ' forty', '-two', '.'];

/**
 * `stall`: a stream sends its first word (`queued`: only a role chunk, no text) and then nothing (the
 * client will leave).
 */
async function usagelessEngine(options: {
  tokenizer: boolean;
  stall?: boolean | 'queued';
  /** On a port fetch refuses ("bad port"), as an external endpoint may be. */
  blockedPort?: boolean;
}) {
  const tokenizeCalls: unknown[] = [];
  /** The `authorization` header of each tokenizer call. */
  const tokenizeAuth: (string | undefined)[] = [];
  const url = await (options.blockedPort ? listenOnFetchBlockedPort : listen)((request, response) => {
    let raw = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (raw += chunk));
    request.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      if (request.url === '/tokenize' && options.tokenizer) {
        tokenizeCalls.push(body);
        tokenizeAuth.push(request.headers.authorization);
        const messages = body['messages'] as { role: string; content: string }[] | undefined;
        const text = messages
          ? render(messages)
          : `${body['add_special_tokens'] === false ? '' : '<s>'}${String(body['prompt'])}`;
        const tokens = tokenize(text);
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ count: tokens.length, max_model_len: 4096, tokens: tokens.map((_, i) => i) }),
        );
        return;
      }
      if (request.url === '/v1/completions') {
        response.writeHead(200, { 'content-type': 'application/json' });
        const choices = [{ index: 0, text: answerWords.join(''), finish_reason: 'stop' }];
        response.end(
          JSON.stringify({ id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm', choices }),
        );
        return;
      }
      if (request.url !== '/v1/chat/completions') {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ detail: 'Not Found' }));
        return;
      }
      const base = { id: 'chatcmpl-1', created: 1, model: 'm' };
      if (body['stream'] === true) {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        if (options.stall === 'queued') {
          const role = {
            ...base,
            object: 'chat.completion.chunk',
            choices: [{ index: 0, delta: { role: 'assistant' } }],
          };
          response.write(`data: ${JSON.stringify(role)}\n\n`);
          return;
        }
        for (const word of options.stall ? answerWords.slice(0, 1) : answerWords) {
          const chunk = {
            ...base,
            object: 'chat.completion.chunk',
            choices: [{ index: 0, delta: { content: word } }],
          };
          response.write(`data: ${JSON.stringify(chunk)}\n\n`);
        }
        if (options.stall) return;
        response.end('data: [DONE]\n\n');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      const message = { role: 'assistant', content: answerWords.join('') };
      response.end(
        JSON.stringify({
          ...base,
          object: 'chat.completion',
          choices: [{ index: 0, message, finish_reason: 'stop' }],
        }),
      );
    });
  });
  return { url, tokenizeCalls, tokenizeAuth };
}

async function gatewayTo(
  engineUrl: string,
  events: UsageEvent[],
  upstreamKey?: string,
  upstreamModel?: string,
) {
  const table: RouteTable = {
    builtAtMs: Date.now(),
    models: [
      {
        name: 'm',
        deploymentId: 'd1',
        status: 'running',
        statusReason: null,
        createdAtMs: 0,
        instances: [
          {
            id: 'i1',
            url: engineUrl,
            deploymentId: 'd1',
            nodeId: 'n1',
            nodeName: 'n1',
            siteId: 's1',
            siteName: 'north',
            region: null,
            ...(upstreamKey !== undefined && { apiKey: upstreamKey }),
            ...(upstreamModel !== undefined && { upstreamModel }),
          },
        ],
      },
    ],
  };
  const gateway = new FleetGateway({
    routes: { get: async () => table, refresh: async () => table },
    log,
    maxBodyBytes: 64 * 1024,
    upstreamWaitMs: 300,
    recordUsage: async (event) => void events.push(event),
  });
  const url = await listen((request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    gateway.handle(request, response, path).catch((error: unknown) => sendError(response, error));
  });
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
}

const messages = [
  { role: 'system' as const, content: 'Be brief.' },
  { role: 'user' as const, content: 'What is the answer?' },
];
const expected = {
  promptTokens: tokenize(render(messages)).length,
  completionTokens: tokenize(answerWords.join('')).length,
};

describe('usage counted with the instance tokenizer when the engine reports none', () => {
  it('adds a usage chunk to a stream that asked for it, and journals the counted tokens', async () => {
    const engine = await usagelessEngine({ tokenizer: true });
    const events: UsageEvent[] = [];
    const client = await gatewayTo(engine.url, events);
    const stream = await client.chat.completions.create({
      model: 'm',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(answerWords.join(''));
    // Counting chunks would give 6; the tokenizer splits the spaces and the hyphen off.
    expect(expected.completionTokens).not.toBe(answerWords.length);
    expect(usage).toEqual({
      prompt_tokens: expected.promptTokens,
      completion_tokens: expected.completionTokens,
      total_tokens: expected.promptTokens + expected.completionTokens,
    });
    expect(events[0]).toMatchObject({ ...expected, usageEstimated: false, outcome: 'ok' });
    expect(engine.tokenizeCalls).toContainEqual(
      expect.objectContaining({ model: 'm', messages, add_generation_prompt: true }),
    );
  });

  /**
   * A streamed chat through the gateway to an engine that stalls (`stall`), which the client leaves
   * once `leaveAt` says so; resolves with the engine and the journaled usage record.
   */
  async function leaveStream(
    stall: true | 'queued',
    leaveAt: (chunk: OpenAI.ChatCompletionChunk) => boolean,
  ) {
    const engine = await usagelessEngine({ tokenizer: true, stall });
    const events: UsageEvent[] = [];
    const client = await gatewayTo(engine.url, events);
    const abort = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'm', messages, stream: true },
      { signal: abort.signal },
    );
    // The openai client ends the iteration quietly when its request is aborted.
    for await (const chunk of stream) if (leaveAt(chunk)) abort.abort();
    await until(() => events.length === 1);
    return { engine, event: events[0] };
  }

  it('charges a client that leaves mid-stream the prompt the engine processed and the text it got', async () => {
    const { event } = await leaveStream(true, (chunk) => Boolean(chunk.choices[0]?.delta.content));
    expect(event).toMatchObject({
      outcome: 'aborted',
      promptTokens: expected.promptTokens,
      completionTokens: tokenize(answerWords[0]!).length,
      usageEstimated: false,
    });
  });

  it('charges nothing to a client that leaves before the engine generated any text', async () => {
    const { engine, event } = await leaveStream('queued', () => true); // the role chunk came: leave
    expect(event).toMatchObject({ outcome: 'aborted', promptTokens: 0, completionTokens: 0 });
    expect(engine.tokenizeCalls).toEqual([]);
  });

  it('adds usage to a JSON answer, and meters a stream that did not ask for it without showing it', async () => {
    const engine = await usagelessEngine({ tokenizer: true });
    const events: UsageEvent[] = [];
    const client = await gatewayTo(engine.url, events);
    const reply = await client.chat.completions.create({ model: 'm', messages });
    expect(reply.choices[0]?.message.content).toBe(answerWords.join(''));
    expect(reply.usage).toMatchObject({
      prompt_tokens: expected.promptTokens,
      completion_tokens: expected.completionTokens,
    });
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    for await (const chunk of stream) expect(chunk.usage ?? undefined).toBeUndefined();
    expect(events).toHaveLength(2);
    for (const event of events) expect(event).toMatchObject({ ...expected, usageEstimated: false });
  });

  it("counts each prompt of a text completion, and calls an external endpoint's tokenizer with its own key", async () => {
    const engine = await usagelessEngine({ tokenizer: true });
    const events: UsageEvent[] = [];
    // Served upstream under another name (vLLM's tokenizer knows only that one).
    const client = await gatewayTo(engine.url, events, 'endpoint-secret', 'org/served-name');
    const prompts = ['Hello there, model.', 'And again!'];
    const reply = await client.completions.create({ model: 'm', prompt: prompts });
    const promptTokens = prompts.reduce((n, p) => n + tokenize(`<s>${p}`).length, 0);
    expect(reply.usage).toMatchObject({
      prompt_tokens: promptTokens,
      completion_tokens: expected.completionTokens,
    });
    expect(events[0]).toMatchObject({ promptTokens, usageEstimated: false });
    // Token ids count as themselves: one prompt of 4 ids and one of 2 (6), one of 5 ids (5).
    await client.completions.create({
      model: 'm',
      prompt: [
        [1, 2, 3, 4],
        [5, 6],
      ],
    });
    await client.completions.create({ model: 'm', prompt: [7, 8, 9, 10, 11] });
    expect(events.slice(1).map((e) => e.promptTokens)).toEqual([6, 5]);
    expect(engine.tokenizeAuth.length).toBeGreaterThanOrEqual(3);
    expect(new Set(engine.tokenizeAuth)).toEqual(new Set(['Bearer endpoint-secret']));
    expect(new Set(engine.tokenizeCalls.map((call) => (call as { model: string }).model))).toEqual(
      new Set(['org/served-name']),
    );
  });

  it('asks the tokenizer of an instance on a port fetch refuses (6665–6669, 10080…)', async () => {
    const engine = await usagelessEngine({ tokenizer: true, blockedPort: true });
    const events: UsageEvent[] = [];
    const client = await gatewayTo(engine.url, events);
    const reply = await client.chat.completions.create({ model: 'm', messages });
    expect(reply.usage).toMatchObject({
      prompt_tokens: expected.promptTokens,
      completion_tokens: expected.completionTokens,
    });
    expect(events[0]).toMatchObject({ ...expected, usageEstimated: false });
  });

  it('falls back to counting chunks, marked as estimated, when the instance has no tokenizer API', async () => {
    const engine = await usagelessEngine({ tokenizer: false });
    const events: UsageEvent[] = [];
    const client = await gatewayTo(engine.url, events);
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    for await (const chunk of stream) void chunk;
    expect(events[0]).toMatchObject({
      // 3 for the reply, 4 per message, and the messages' bytes / 4: 'Be brief.' 3, the question 5
      promptTokens: 3 + 2 * 4 + 3 + 5,
      completionTokens: answerWords.length,
      usageEstimated: true,
      outcome: 'ok',
    });
  });
});
