/**
 * A scripted OpenAI-compatible upstream for bench tests: every streamed answer sends its first chunk
 * `ttftMs` after the request arrived and each later chunk `gapMs` after the previous one, scheduled against
 * absolute times so timer overshoot does not accumulate. One chunk per output token (`max_tokens` of them),
 * then a usage chunk and [DONE]. Its tokenizer counts whitespace-separated words plus a fixed template
 * overhead, so the prompt sizes the bench builds can be checked exactly. Path prefixes script failures:
 * `/fail5xx/v1/...` answers every third measured request with HTTP 500; `/serial/v1/...` serves measured
 * requests one at a time (a FIFO queue: a capacity of 1 / service time); `/strict/v1/...` refuses
 * `ignore_eos` with HTTP 400 as OpenAI does. Listens on 127.0.0.1 only.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const TEMPLATE_OVERHEAD_TOKENS = 5;

export interface SeenRequest {
  path: string;
  body: {
    max_tokens: number;
    messages: { role: string; content: string }[];
    ignore_eos?: boolean;
    stream_options?: unknown;
  };
  promptTokens: number;
}

export interface ScriptedUpstream {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

const countWords = (text: string) => text.split(/\s+/).filter((w) => w !== '').length;

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}

export async function startScriptedUpstream(timing: {
  ttftMs: number;
  gapMs: number;
}): Promise<ScriptedUpstream> {
  const seen: SeenRequest[] = [];
  let measured = 0;
  let queueFreeAt = 0;
  const server: Server = createServer((req, res) => {
    let arrived = performance.now();
    void readBody(req).then((text) => {
      const body = JSON.parse(text) as SeenRequest['body'];
      const promptTokens =
        TEMPLATE_OVERHEAD_TOKENS + body.messages.reduce((n, m) => n + countWords(m.content), 0);
      seen.push({ path: req.url ?? '', body, promptTokens });
      if (req.method !== 'POST' || !req.url?.endsWith('/v1/chat/completions')) {
        res.writeHead(404).end();
        return;
      }
      if (req.url.startsWith('/strict/') && body.ignore_eos !== undefined) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"Unrecognized request argument supplied: ignore_eos"}}');
        return;
      }
      if (body.max_tokens > 1 && req.url.startsWith('/fail5xx/') && measured++ % 3 === 2) {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"error":{"message":"scripted failure"}}');
        return;
      }
      if (body.max_tokens > 1 && req.url.startsWith('/serial/')) {
        // Wait for the one server: this request starts when the previous one has finished.
        arrived = Math.max(arrived, queueFreeAt);
        queueFreeAt = arrived + timing.ttftMs + (body.max_tokens - 1) * timing.gapMs;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (json: unknown) => res.write(`data: ${JSON.stringify(json)}\n\n`);
      // Probes (max_tokens 1) answer at once; measured requests follow the script.
      const ttft = body.max_tokens > 1 ? timing.ttftMs : 0;
      let i = 0;
      const emit = () => {
        if (res.destroyed) return;
        const last = i === body.max_tokens - 1;
        chunk({
          choices: [{ index: 0, delta: { content: `t${i} ` }, finish_reason: last ? 'length' : null }],
        });
        i++;
        if (!last) {
          setTimeout(emit, arrived + ttft + i * timing.gapMs - performance.now());
          return;
        }
        chunk({ choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: body.max_tokens } });
        res.end('data: [DONE]\n\n');
      };
      setTimeout(emit, arrived + ttft - performance.now());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
