/**
 * Reading and writing the parts of OpenAI answers the gateway meters, for both forms an answer takes: a
 * JSON `chat.completion`/`text_completion` (text under `choices[].message` or `choices[].text`) and the
 * chunks of a stream (text under `choices[].delta` or `choices[].text`).
 */

/** The object a JSON text holds, or null when it is not JSON or not an object. */
export function parseJsonObject(text: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** The `choices` of a chunk or an answer that are objects. */
export function choicesOf(value: Record<string, unknown> | null): Record<string, unknown>[] {
  const choices = value?.['choices'];
  if (!Array.isArray(choices)) return [];
  return choices.filter((c): c is Record<string, unknown> => typeof c === 'object' && c !== null);
}

/**
 * The generated text of an answer (`message`) or a stream chunk (`delta`): every choice's reasoning,
 * content and completion text, in that order.
 */
export function generatedTextOf(value: Record<string, unknown> | null, part: 'message' | 'delta'): string {
  let text = '';
  for (const choice of choicesOf(value)) {
    const fields = (choice[part] ?? {}) as Record<string, unknown>;
    for (const piece of [fields['reasoning_content'], fields['content'], choice['text']]) {
      if (typeof piece === 'string') text += piece;
    }
  }
  return text;
}

/** OpenAI's `usage` object for counted tokens. */
export function usageObject(counted: {
  promptTokens: number;
  completionTokens: number;
}): Record<string, number> {
  return {
    prompt_tokens: counted.promptTokens,
    completion_tokens: counted.completionTokens,
    total_tokens: counted.promptTokens + counted.completionTokens,
  };
}
