import { z } from 'zod';

/**
 * Request bodies of the OpenAI-compatible API, validated strictly: unknown fields are refused (as OpenAI
 * does), known fields we cannot honour are refused with a clear message instead of being ignored. Values
 * that ask for nothing (`tool_choice: "none"`, `response_format: {type: "text"}`), which client libraries
 * send by default, are accepted.
 */

const stop = z
  .union([z.string().max(1000), z.array(z.string().max(1000)).max(16)], {
    error: 'a string or a list of at most 16 strings, each at most 1000 characters',
  })
  .nullish();

const sampling = {
  model: z.string().min(1).max(512),
  stream: z.boolean().nullish(),
  stream_options: z
    .object({
      include_usage: z.boolean().nullish(),
      /** OpenAI's padding of streamed chunks; nothing to obfuscate here, so either value is fine. */
      include_obfuscation: z.boolean().nullish(),
    })
    .strict()
    .nullish(),
  max_tokens: z.number().int().min(1).max(1_000_000).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  /** -1 (vLLM's "disabled", which clients built for vLLM send) and 0 (llama.cpp's) both mean no top-k. */
  top_k: z
    .number()
    .int()
    .min(-1, { error: 'a number of tokens from 1 to 100000, or -1 or 0 for no top-k' })
    .max(100_000)
    .nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  seed: z
    .number()
    .int()
    .min(-(2 ** 53))
    .max(2 ** 53)
    .nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  repetition_penalty: z.number().gt(0).max(10).nullish(),
  stop,
  n: z
    .number()
    .int()
    .min(1)
    .max(1, { error: 'this engine returns one choice per request (n: 1); send n requests instead' })
    .nullish(),
  user: z.string().max(256).nullish(),
  /** vLLM's extension: keep generating past EOS until max_tokens (used by benchmarks). */
  ignore_eos: z.boolean().nullish(),
};

const noLogprobs = 'log probabilities are not returned by this engine';

/** `stream_options` without `stream: true` is refused, as OpenAI does (a refinement of both bodies). */
const streamingIfStreamOptions = (body: { stream?: boolean | null; stream_options?: unknown }) =>
  body.stream === true || body.stream_options == null;
const streamOptionsRefusal = { message: 'only allowed when stream is true', path: ['stream_options'] };

const textPart = z.object({ type: z.literal('text'), text: z.string() }).strict();

/**
 * Fields of an assistant message that the openai SDKs return and clients push back into the history as
 * they are: with these values they carry nothing and are dropped before the strict check; with a value
 * (a real tool call, a refusal text) they are refused as unknown fields, as before.
 */
const emptyAssistantFields = ['refusal', 'tool_calls', 'function_call', 'audio', 'annotations'] as const;

function withoutEmptyFields(message: unknown): unknown {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return message;
  const fields = message as Record<string, unknown>;
  if (!emptyAssistantFields.some((name) => Object.hasOwn(fields, name))) return message;
  const kept = { ...fields };
  for (const name of emptyAssistantFields) {
    const value = kept[name];
    if (value === null || (Array.isArray(value) && value.length === 0)) delete kept[name];
  }
  return kept;
}

export const chatMessageSchema = z.preprocess(
  withoutEmptyFields,
  z
    .object({
      role: z.enum(['system', 'developer', 'user', 'assistant']),
      content: z
        .union([z.string(), z.array(textPart).max(256)], {
          error:
            'a string or a list of at most 256 text parts ({"type": "text", "text": "…"}); this model takes text only',
        })
        .nullable(),
      name: z.string().max(256).optional(),
      reasoning_content: z.string().nullish(),
    })
    .strict()
    .refine((message) => message.content !== null || message.role === 'assistant', {
      message: 'content may be null only in an assistant message',
      path: ['content'],
    }),
);

export const chatCompletionRequestSchema = z
  .object({
    ...sampling,
    messages: z.array(chatMessageSchema).min(1).max(4096),
    max_completion_tokens: z.number().int().min(1).max(1_000_000).nullish(),
    logprobs: z.literal(false, { error: noLogprobs }).nullish(),
    /** Only the values that ask for nothing: no tools, plain text. */
    tool_choice: z.literal('none', { error: 'tools are not supported by this engine' }).nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    response_format: z
      .object({
        type: z.literal('text', {
          error: 'only "text" is supported: this engine does not constrain output to JSON',
        }),
      })
      .strict()
      .nullish(),
  })
  .strict()
  .refine(streamingIfStreamOptions, streamOptionsRefusal);

export const completionRequestSchema = z
  .object({
    ...sampling,
    prompt: z.union([z.string(), z.array(z.string()).length(1)], {
      error:
        'a string, or a list of one string: this engine takes one text prompt per request (not several, not token ids)',
    }),
    echo: z.literal(false, { error: 'echo is not supported by this engine' }).nullish(),
    logprobs: z.null({ error: noLogprobs }).optional(),
  })
  .strict()
  .refine(streamingIfStreamOptions, streamOptionsRefusal);

export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/** The text of a message whose content may be a list of text parts. */
export function messageText(message: ChatMessage): string {
  if (message.content === null) return '';
  if (typeof message.content === 'string') return message.content;
  return message.content.map((part) => part.text).join('');
}
