/**
 * `--dataset FILE.jsonl`: one conversation per line, in either of two formats.
 *
 *   ShareGPT:  {"conversations": [{"from": "system"|"human"|"gpt", "value": "..."}, ...]}
 *   OpenAI:    {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...], "max_tokens"?: N}
 *
 * Like vLLM's ShareGPT loader, a request is the conversation up to and including its first user turn (the
 * system turn is kept); its output budget is the line's `max_tokens`, else `--output-tokens`, else the
 * length of the first assistant reply at ~4 characters per token (at least 16). Blank lines are skipped;
 * a malformed line is an error naming its line number. Pure (parses text; the CLI reads the file).
 */
import { z } from 'zod';
import { EdgeFleetError } from '../spec/edgefleet-error.js';

export interface DatasetEntry {
  messages: { role: 'system' | 'user'; content: string }[];
  /** Output budget from the line (explicit max_tokens or the reference reply), null when it has neither. */
  maxTokens: number | null;
  /** Whether maxTokens was given explicitly. */
  explicitMaxTokens: boolean;
}

const shareGptLine = z.object({
  conversations: z.array(z.object({ from: z.string(), value: z.string() })).min(1),
  max_tokens: z.number().int().min(1).optional(),
});
const openAiLine = z.object({
  messages: z.array(z.object({ role: z.string(), content: z.string() })).min(1),
  max_tokens: z.number().int().min(1).optional(),
});

const roleOf: Record<string, 'system' | 'user' | 'assistant' | undefined> = {
  system: 'system',
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  chatgpt: 'assistant',
  bing: 'assistant',
  bard: 'assistant',
};

function toEntry(
  turns: { role: string; content: string }[],
  maxTokens: number | undefined,
): DatasetEntry | null {
  const messages: DatasetEntry['messages'] = [];
  let reply: string | null = null;
  for (const turn of turns) {
    const role = roleOf[turn.role];
    if (role === 'system' && messages.length === 0) messages.push({ role, content: turn.content });
    else if (role === 'user' && !messages.some((m) => m.role === 'user'))
      messages.push({ role, content: turn.content });
    else if (role === 'assistant' && messages.some((m) => m.role === 'user')) {
      reply = turn.content;
      break;
    }
  }
  if (!messages.some((m) => m.role === 'user')) return null;
  const fromReply = reply === null ? null : Math.max(16, Math.ceil(reply.length / 4));
  return { messages, maxTokens: maxTokens ?? fromReply, explicitMaxTokens: maxTokens !== undefined };
}

/** Parses a JSONL dataset; lines without a user turn are skipped; refuses a file with no usable line. */
export function parseDataset(text: string, name: string): DatasetEntry[] {
  const entries: DatasetEntry[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new EdgeFleetError('invalid_argument', `${name}:${index + 1}: not valid JSON`, {
        param: 'dataset',
      });
    }
    const share = shareGptLine.safeParse(json);
    const openAi = share.success ? null : openAiLine.safeParse(json);
    let entry: DatasetEntry | null;
    if (share.success) {
      entry = toEntry(
        share.data.conversations.map((c) => ({ role: c.from, content: c.value })),
        share.data.max_tokens,
      );
    } else if (openAi?.success) {
      entry = toEntry(openAi.data.messages, openAi.data.max_tokens);
    } else {
      throw new EdgeFleetError(
        'invalid_argument',
        `${name}:${index + 1}: expected {"conversations":[{"from","value"}...]} or {"messages":[{"role","content"}...]}`,
        { param: 'dataset' },
      );
    }
    if (entry) entries.push(entry);
  }
  if (entries.length === 0) {
    throw new EdgeFleetError('invalid_argument', `${name}: no conversation with a user turn`, {
      param: 'dataset',
    });
  }
  return entries;
}
