/**
 * Load for fault tests: concurrent loops of non-streamed chat requests through the official openai client,
 * counting what was sent, answered with the model's expected text, and failed.
 */
import OpenAI from 'openai';
import type { TestModel } from './models.js';

/** One finished request: the room and instance that answered (null on failure), and when. */
export interface ChatAnswer {
  site: string | null;
  instance: string | null;
  startedAt: number;
  endedAt: number;
  ok: boolean;
}

export interface ChatLoad {
  sent: () => number;
  /** Every finished request, in the order they finished. */
  answers: () => ChatAnswer[];
  answered: () => number;
  failures: () => string[];
  stop: () => Promise<void>;
}

/** `loops` concurrent loops of non-streamed chat requests; each request counts as sent when it starts. */
export function startChatLoad(baseURL: string, apiKey: string, model: TestModel, loops: number): ChatLoad {
  let sent = 0;
  let answered = 0;
  const failures: string[] = [];
  const answers: ChatAnswer[] = [];
  let stopping = false;
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
  const loop = async (n: number) => {
    while (!stopping) {
      sent += 1;
      const startedAt = Date.now();
      try {
        const { data: reply, response } = await client.chat.completions
          .create({
            model: 'tiny',
            messages: [{ role: 'user', content: `loop ${n}: hello` }],
            temperature: 0,
          })
          .withResponse();
        const text = reply.choices[0]?.message.content;
        const ok = text === model.expectedText;
        if (ok) answered += 1;
        else failures.push(`wrong answer: ${JSON.stringify(text)}`);
        answers.push({
          site: response.headers.get('x-edgefleet-site'),
          instance: response.headers.get('x-edgefleet-instance'),
          startedAt,
          endedAt: Date.now(),
          ok,
        });
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
        answers.push({ site: null, instance: null, startedAt, endedAt: Date.now(), ok: false });
      }
    }
  };
  const running = Promise.all(Array.from({ length: loops }, (_, n) => loop(n)));
  return {
    sent: () => sent,
    answers: () => answers,
    answered: () => answered,
    failures: () => failures,
    stop: async () => {
      stopping = true;
      await running;
    },
  };
}
