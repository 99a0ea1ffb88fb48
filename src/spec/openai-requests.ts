import { z } from 'zod';

/**
 * Request bodies of the OpenAI-compatible API, validated strictly: unknown fields are refused (as OpenAI
 * does), known fields we cannot honour are refused with a clear message instead of being ignored.
 */

const stop = z.union([z.string().max(1000), z.array(z.string().max(1000)).max(16)]).nullish();

const sampling = {
  model: z.string().min(1).max(512),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).strict().nullish(),
  max_tokens: z.number().int().min(1).max(1_000_000).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(0).max(100_000).nullish(),
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
  n: z.number().int().min(1).max(1).nullish(),
  user: z.string().max(256).nullish(),
  /** vLLM's extension: keep generating past EOS until max_tokens (used by benchmarks). */
  ignore_eos: z.boolean().nullish(),
};

const textPart = z.object({ type: z.literal('text'), text: z.string() }).strict();

export const chatMessageSchema = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant']),
    content: z.union([z.string(), z.array(textPart).max(256)]).nullable(),
    name: z.string().max(256).optional(),
    reasoning_content: z.string().nullish(),
  })
  .strict()
  .refine((message) => message.content !== null || message.role === 'assistant', {
    message: 'content may be null only in an assistant message',
    path: ['content'],
  });

export const chatCompletionRequestSchema = z
  .object({
    ...sampling,
    messages: z.array(chatMessageSchema).min(1).max(4096),
    max_completion_tokens: z.number().int().min(1).max(1_000_000).nullish(),
    logprobs: z.literal(false).nullish(),
  })
  .strict();

export const completionRequestSchema = z
  .object({
    ...sampling,
    prompt: z.union([z.string(), z.array(z.string()).length(1)], {
      error: 'a string, or a list of one string: this engine takes one prompt per request',
    }),
    echo: z.literal(false).nullish(),
    logprobs: z.null().optional(),
  })
  .strict();

export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/** The text of a message whose content may be a list of text parts. */
export function messageText(message: ChatMessage): string {
  if (message.content === null) return '';
  if (typeof message.content === 'string') return message.content;
  return message.content.map((part) => part.text).join('');
}
