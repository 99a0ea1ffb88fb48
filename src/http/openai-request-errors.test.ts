import { describe, expect, it } from 'vitest';
import { parseWith } from './read-json-body.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { chatCompletionRequestSchema, completionRequestSchema } from '../spec/openai-requests.js';

const messages = [{ role: 'user', content: 'hi' }];
const chat = (extra: Record<string, unknown>) => ({ model: 'm', messages, ...extra });

/** The error parseWith throws for `body`, as code, param and message. */
function refusal(schema: Parameters<typeof parseWith>[0], body: unknown) {
  try {
    parseWith(schema, body);
  } catch (error) {
    if (!(error instanceof EdgeFleetError)) throw error;
    return { code: error.code, param: error.param, message: error.message };
  }
  throw new Error(`accepted: ${JSON.stringify(body)}`);
}

describe('OpenAI request bodies', () => {
  it('accept the values client libraries send by default that ask for nothing', () => {
    const defaults = chat({
      tool_choice: 'none',
      parallel_tool_calls: false,
      response_format: { type: 'text' },
      stream: true,
      stream_options: { include_usage: null, include_obfuscation: false },
    });
    expect(() => parseWith(chatCompletionRequestSchema, defaults)).not.toThrow();
    expect(() => parseWith(chatCompletionRequestSchema, chat({ stream_options: null }))).not.toThrow();
  });

  it('take top_k -1 (vLLM) and 0 (llama.cpp) as no top-k, and refuse below -1', () => {
    for (const topK of [-1, 0, 1, 40]) {
      expect(parseWith(chatCompletionRequestSchema, chat({ top_k: topK })).top_k).toBe(topK);
      expect(parseWith(completionRequestSchema, { model: 'm', prompt: 'x', top_k: topK }).top_k).toBe(topK);
    }
    const below = refusal(chatCompletionRequestSchema, chat({ top_k: -2 }));
    expect(below).toMatchObject({ code: 'invalid_request', param: 'top_k' });
    expect(below.message).toMatch(/-1 or 0 for no top-k/);
  });

  it('say why a value that cannot be honoured is refused, naming the field', () => {
    const cases: [unknown, string, RegExp][] = [
      [chat({ logprobs: true }), 'logprobs', /log probabilities are not returned/],
      [chat({ n: 2 }), 'n', /one choice per request/],
      [chat({ stop: Array(17).fill('x') }), 'stop', /at most 16 strings/],
      [chat({ tool_choice: 'auto' }), 'tool_choice', /tools are not supported/],
      [chat({ response_format: { type: 'json_object' } }), 'response_format.type', /does not constrain/],
      [chat({ stream_options: { include_usage: true } }), 'stream_options', /only allowed when stream/],
      [
        chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }),
        'messages.0.content',
        /text only/,
      ],
    ];
    for (const [body, param, message] of cases) {
      const got = refusal(chatCompletionRequestSchema, body);
      expect(got, JSON.stringify(body)).toMatchObject({ code: 'invalid_request', param });
      expect(got.message).toMatch(message);
    }
    const prompts: [unknown, string, RegExp][] = [
      [{ model: 'm', prompt: [1, 2, 3] }, 'prompt', /not several, not token ids/],
      [{ model: 'm', prompt: 'x', echo: true }, 'echo', /echo is not supported/],
      [{ model: 'm', prompt: 'x', logprobs: 2 }, 'logprobs', /log probabilities/],
    ];
    for (const [body, param, message] of prompts) {
      const got = refusal(completionRequestSchema, body);
      expect(got, JSON.stringify(body)).toMatchObject({ code: 'invalid_request', param });
      expect(got.message).toMatch(message);
    }
  });

  it('take an assistant message back as the openai SDK returns it, refusing what carries something', () => {
    // What the SDK returns as `choices[0].message` (OpenAI's API fills these in), pushed back as is.
    const returned = {
      role: 'assistant',
      content: 'hello',
      refusal: null,
      tool_calls: [],
      function_call: null,
      audio: null,
      annotations: [],
    };
    const history = [{ role: 'user', content: 'hi' }, returned, { role: 'user', content: 'again' }];
    const parsed = parseWith(chatCompletionRequestSchema, { model: 'm', messages: history });
    expect(parsed.messages[1]).toEqual({ role: 'assistant', content: 'hello' });
    const carrying: [string, unknown][] = [
      ['tool_calls', [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }]],
      ['function_call', { name: 'f', arguments: '{}' }],
      ['refusal', 'I cannot help with that'],
      ['audio', { id: 'audio_1' }],
      ['annotations', [{ type: 'url_citation' }]],
    ];
    for (const [field, value] of carrying) {
      const body = { model: 'm', messages: [{ ...returned, [field]: value }] };
      expect(refusal(chatCompletionRequestSchema, body), field).toMatchObject({
        code: 'unsupported_parameter',
        param: `messages.0.${field}`,
      });
    }
  });

  it('name an unknown field with its place', () => {
    const nested = refusal(chatCompletionRequestSchema, chat({ stream: true, stream_options: { foo: 1 } }));
    expect(nested).toMatchObject({ code: 'unsupported_parameter', param: 'stream_options.foo' });
    const toolCall = { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } };
    const inMessage = refusal(chatCompletionRequestSchema, {
      model: 'm',
      messages: [{ role: 'assistant', content: null, tool_calls: [toolCall] }],
    });
    expect(inMessage).toMatchObject({ code: 'unsupported_parameter', param: 'messages.0.tool_calls' });
    expect(refusal(chatCompletionRequestSchema, chat({ tools: [] }))).toMatchObject({ param: 'tools' });
  });
});
