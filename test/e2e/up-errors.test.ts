import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestModel } from '../helpers/models.js';
import { metricValue, startEdgeFleet, waitFor, type RunningEdgeFleet } from '../helpers/edgefleet-process.js';

/** Every bad input gets a 4xx in OpenAI's error shape, and the server keeps serving afterwards. */
describe('edgefleet up: bad input and client disconnects', () => {
  let server: RunningEdgeFleet;
  let client: OpenAI;

  beforeAll(async () => {
    const model = await makeTestModel({});
    server = await startEdgeFleet([
      '--model',
      model.path,
      '--name',
      'm',
      '--context',
      '4096',
      '--max-body-bytes',
      '65536',
      '--offline',
    ]);
    client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  afterAll(async () => {
    await server?.stop();
  });

  async function post(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
    const response = await fetch(`${server.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    const json = (await response.json()) as {
      error?: { message: string; type: string; param: string | null; code: string };
    };
    return { status: response.status, error: json.error };
  }

  const chat = (extra: Record<string, unknown>) =>
    JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });

  const cases: Array<[string, string, string | Buffer, number, string]> = [
    ['malformed JSON', '/v1/chat/completions', '{"model": "m", "messages": [', 400, 'invalid_json'],
    ['an empty body', '/v1/chat/completions', '', 400, 'invalid_json'],
    ['bad UTF-8', '/v1/chat/completions', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 400, 'invalid_json'],
    ['a JSON array', '/v1/chat/completions', '[]', 400, 'invalid_request'],
    [
      'messages of the wrong type',
      '/v1/chat/completions',
      JSON.stringify({ model: 'm', messages: 'hi' }),
      400,
      'invalid_request',
    ],
    [
      'no messages',
      '/v1/chat/completions',
      JSON.stringify({ model: 'm', messages: [] }),
      400,
      'invalid_request',
    ],
    [
      'a bad role',
      '/v1/chat/completions',
      JSON.stringify({ model: 'm', messages: [{ role: 'wizard', content: 'x' }] }),
      400,
      'invalid_request',
    ],
    ['temperature as a string', '/v1/chat/completions', chat({ temperature: 'hot' }), 400, 'invalid_request'],
    ['a huge max_tokens', '/v1/chat/completions', chat({ max_tokens: 1e300 }), 400, 'invalid_request'],
    ['a negative max_tokens', '/v1/chat/completions', chat({ max_tokens: -1 }), 400, 'invalid_request'],
    ['n > 1', '/v1/chat/completions', chat({ n: 2 }), 400, 'invalid_request'],
    [
      'an unknown parameter',
      '/v1/chat/completions',
      chat({ frobnicate: true }),
      400,
      'unsupported_parameter',
    ],
    [
      'an unknown model',
      '/v1/chat/completions',
      JSON.stringify({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }),
      404,
      'model_not_found',
    ],
    [
      'a prompt longer than the context',
      '/v1/completions',
      // Over 4096 tokens with any vocabulary that gives "word " a token of its own.
      JSON.stringify({ model: 'm', prompt: 'word '.repeat(5000) }),
      400,
      'context_length_exceeded',
    ],
    [
      'prompt + max_tokens over the context',
      '/v1/completions',
      JSON.stringify({ model: 'm', prompt: 'hi', max_tokens: 10_000 }),
      400,
      'context_length_exceeded',
    ],
    [
      'a body over the size limit',
      '/v1/completions',
      JSON.stringify({ model: 'm', prompt: 'x'.repeat(70_000) }),
      413,
      'request_too_large',
    ],
  ];

  it.each(cases)('refuses %s with a clear 4xx', async (_name, path, body, status, code) => {
    const { status: got, error } = await post(path, body);
    expect(got).toBe(status);
    expect(error?.code).toBe(code);
    expect(error?.message.length).toBeGreaterThan(10);
    expect(error).toHaveProperty('type');
    expect(error).toHaveProperty('param');
  });

  it('names the offending field in param', async () => {
    const { error } = await post('/v1/chat/completions', chat({ temperature: 'hot' }));
    expect(error?.param).toBe('temperature');
  });

  it('says why null content or several prompts are refused', async () => {
    const nullUser = await post(
      '/v1/chat/completions',
      JSON.stringify({ model: 'm', messages: [{ role: 'user', content: null }] }),
    );
    expect(nullUser.status).toBe(400);
    expect(nullUser.error?.message).toMatch(/null only in an assistant message/);
    const twoPrompts = await post('/v1/completions', JSON.stringify({ model: 'm', prompt: ['a', 'b'] }));
    expect(twoPrompts.status).toBe(400);
    expect(twoPrompts.error?.message).toMatch(/one text prompt per request/);
    // An assistant turn with null content (one that only called tools, in a replayed history) is fine.
    const history = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: null },
      { role: 'user', content: 'again' },
    ];
    expect(
      (await post('/v1/chat/completions', JSON.stringify({ model: 'm', messages: history }))).status,
    ).toBe(200);
  });

  it('accepts what client libraries send by default, and refuses what it cannot honour by name', async () => {
    const answer = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4,
      tool_choice: 'none',
      parallel_tool_calls: false,
      response_format: { type: 'text' },
    });
    expect(answer.choices).toHaveLength(1);
    const refused = await post('/v1/chat/completions', chat({ logprobs: true, top_logprobs: 2 }));
    expect(refused.status).toBe(400);
    expect(refused.error?.message).toMatch(/top_logprobs|log probabilities/);
    const tooLong = await post('/v1/chat/completions', chat({ max_completion_tokens: 10_000 }));
    expect(tooLong.error).toMatchObject({ code: 'context_length_exceeded', param: 'max_completion_tokens' });
    const notStreamed = await post('/v1/chat/completions', chat({ stream_options: { include_usage: true } }));
    expect(notStreamed.error).toMatchObject({ param: 'stream_options' });
  });

  it('takes top_k -1 and 0 (no top-k), as clients built for vLLM and llama.cpp send them', async () => {
    for (const topK of [-1, 0]) {
      const chatParams = {
        model: 'm',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 4,
        top_k: topK,
      } as OpenAI.ChatCompletionCreateParamsNonStreaming;
      const answer = await client.chat.completions.create(chatParams);
      expect(answer.usage?.completion_tokens).toBeGreaterThan(0);
      const textParams = {
        model: 'm',
        prompt: 'hi',
        max_tokens: 4,
        top_k: topK,
      } as OpenAI.CompletionCreateParamsNonStreaming;
      expect((await client.completions.create(textParams)).choices).toHaveLength(1);
    }
  });

  it('takes back an assistant message as the openai client returns it, and still refuses a tool call', async () => {
    const question = { role: 'user' as const, content: 'hi' };
    const first = await client.chat.completions.create({ model: 'm', messages: [question], max_tokens: 4 });
    // As OpenAI's API fills it in and the client returns it; the history goes back with it as is.
    const returned = {
      ...first.choices[0]!.message,
      refusal: null,
      tool_calls: [],
      function_call: null,
      audio: null,
      annotations: [],
    };
    const again = { role: 'user' as const, content: 'again' };
    const next = await client.chat.completions.create({
      model: 'm',
      messages: [question, returned, again],
      max_tokens: 4,
    });
    expect(next.choices).toHaveLength(1);
    const call = { id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{}' } };
    await expect(
      client.chat.completions.create({
        model: 'm',
        messages: [question, { ...returned, tool_calls: [call] }, again],
        max_tokens: 4,
      }),
    ).rejects.toMatchObject({ status: 400, code: 'unsupported_parameter', param: 'messages.1.tool_calls' });
  });

  it('answers wrong methods and unknown paths in the same error shape', async () => {
    const wrongMethod = await fetch(`${server.baseUrl}/v1/chat/completions`);
    expect(wrongMethod.status).toBe(405);
    const unknown = await fetch(`${server.baseUrl}/v1/nothing-here`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('raises typed errors in the openai client', async () => {
    await expect(
      client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
  });

  it('says that the embedded engine serves no embeddings (501, through the gateway)', async () => {
    const refused = await client.embeddings.create({ model: 'm', input: 'hello' }).then(
      () => null,
      (error: unknown) => error as { status?: number; code?: string; message?: string },
    );
    expect(refused).toMatchObject({ status: 501, code: 'not_implemented' });
    expect(refused?.message).toMatch(/does not serve embeddings/);
  });

  it('frees the slots of clients that disconnect mid-stream', async () => {
    const aborts = Array.from({ length: 4 }, () => new AbortController());
    await Promise.all(
      aborts.map(async (abort) => {
        const response = await fetch(`${server.baseUrl}/v1/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          // Long enough (about a second or more of generation) that no stream can end before its client
          // leaves, even on a loaded machine: each must end as an abort.
          body: JSON.stringify({
            model: 'm',
            prompt: 'hi',
            max_tokens: 4000,
            ignore_eos: true,
            stream: true,
          }),
          signal: abort.signal,
        });
        const reader = response.body!.getReader();
        await reader.read();
        abort.abort();
      }),
    );
    let last = '';
    const ended = (reason: string) =>
      metricValue(last, `edgefleet_engine_requests_total{endpoint="completion",finish_reason="${reason}"`);
    const running = () => metricValue(last, 'edgefleet_engine_requests_running');
    const metrics = await waitFor(
      async () => {
        last = await (await fetch(`${server.baseUrl}/metrics`)).text();
        return running() === 0 && (ended('abort') ?? 0) >= 4 ? last : undefined;
      },
      10_000,
      'slots to be freed',
    ).catch((error: unknown) => {
      const seen = `running ${running()}, aborted ${ended('abort')}, ended at max_tokens ${ended('length')}`;
      throw new Error(`${String(error)}; the engine's metrics last showed ${seen}`);
    });
    expect(metricValue(metrics, 'edgefleet_engine_requests_waiting')).toBe(0);
  });

  it('is still healthy and serving after all of the above', async () => {
    expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200);
    const reply = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
    });
    expect(reply.choices[0]?.message.content?.length).toBeGreaterThan(0);
  });
});
