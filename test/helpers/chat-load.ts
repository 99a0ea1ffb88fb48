/**
 * Load for fault tests: concurrent loops of non-streamed chat requests through the official openai client,
 * counting what was sent, answered with the model's expected text, and failed.
 */
import OpenAI from 'openai';
import type { TestModel } from './models.js';

export interface ChatLoad {
  sent: () => number;
  answered: () => number;
  failures: () => string[];
  stop: () => Promise<void>;
}

/** `loops` concurrent loops of non-streamed chat requests; each request counts as sent when it starts. */
export function startChatLoad(baseURL: string, apiKey: string, model: TestModel, loops: number): ChatLoad {
  let sent = 0;
  let answered = 0;
  const failures: string[] = [];
  let stopping = false;
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
  const loop = async (n: number) => {
    while (!stopping) {
      sent += 1;
      try {
        const reply = await client.chat.completions.create({
          model: 'tiny',
          messages: [{ role: 'user', content: `loop ${n}: hello` }],
          temperature: 0,
        });
        const text = reply.choices[0]?.message.content;
        if (text === model.expectedText) answered += 1;
        else failures.push(`wrong answer: ${JSON.stringify(text)}`);
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }
  };
  const running = Promise.all(Array.from({ length: loops }, (_, n) => loop(n)));
  return {
    sent: () => sent,
    answered: () => answered,
    failures: () => failures,
    stop: async () => {
      stopping = true;
      await running;
    },
  };
}
