#!/usr/bin/env node
/**
 * A fast OpenAI-compatible upstream for the gateway overhead benchmark: `POST /v1/chat/completions`
 * (and `/v1/completions`) answered in constant time, keep-alive, no model behind it.
 *
 *   node bench/gateway/upstream.mjs --port 0 [--chunks 16] [--chunk-interval-ms 1]
 *
 * Non-streamed: one chat completion with `usage`, sent at once. Streamed (`"stream": true`): `--chunks`
 * content chunks, one every `--chunk-interval-ms` (0: as fast as possible, each chunk its own write with a
 * turn of the event loop between chunks, for the chunk-throughput measurement), then a usage chunk when
 * the request asked for `stream_options.include_usage`, then `data: [DONE]`. A request may override the
 * count and the interval with the headers `x-bench-chunks` and `x-bench-interval-ms`. `GET /health` = 200.
 * Prints `listening <port>` on stdout once it listens.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { serve } from './serve.mjs';

const { values: flags } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    chunks: { type: 'string', default: '16' },
    'chunk-interval-ms': { type: 'string', default: '1' },
  },
  strict: true,
});

const defaultChunks = Number(flags.chunks);
const defaultIntervalMs = Number(flags['chunk-interval-ms']);
const created = Math.floor(Date.now() / 1000);
const promptTokens = 42;

const chunkLine = (choice) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created,
    model: 'bench',
    choices: [choice],
  })}\n\n`;
const roleChunk = chunkLine({ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null });
const textChunk = chunkLine({ index: 0, delta: { content: ' token' }, finish_reason: null });
const stopChunk = chunkLine({ index: 0, delta: {}, finish_reason: 'stop' });
const usageChunk = (completion) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created,
    model: 'bench',
    choices: [],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completion,
      total_tokens: promptTokens + completion,
    },
  })}\n\n`;
const completion = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created,
  model: 'bench',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Hello! This is a constant answer from the benchmark upstream.',
      },
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: promptTokens, completion_tokens: 12, total_tokens: promptTokens + 12 },
});
const completionLength = String(Buffer.byteLength(completion));

function stream(response, chunks, intervalMs, withUsage) {
  response.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
  });
  response.write(roleChunk);
  let sent = 0;
  let closed = false;
  response.on('close', () => (closed = true));
  const finish = () => {
    response.write(stopChunk);
    if (withUsage) response.write(usageChunk(chunks));
    response.end('data: [DONE]\n\n');
  };
  const next = () => {
    if (closed) return;
    if (sent >= chunks) return finish();
    response.write(textChunk);
    sent += 1;
    if (intervalMs > 0) setTimeout(next, intervalMs);
    else setImmediate(next);
  };
  if (intervalMs > 0) setTimeout(next, intervalMs);
  else next();
}

const server = createServer({ keepAlive: true }, (request, response) => {
  if (request.method === 'GET') {
    response.writeHead(request.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
    response.end('{}');
    return;
  }
  const parts = [];
  request.on('data', (part) => parts.push(part));
  request.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      response.writeHead(400, { 'content-type': 'application/json' });
      response.end('{"error":{"message":"bad json"}}');
      return;
    }
    if (body.stream === true) {
      const chunks = Number(request.headers['x-bench-chunks'] ?? defaultChunks);
      const intervalMs = Number(request.headers['x-bench-interval-ms'] ?? defaultIntervalMs);
      stream(response, chunks, intervalMs, body.stream_options?.include_usage === true);
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': completionLength });
    response.end(completion);
  });
});
server.keepAliveTimeout = 60_000;
serve(server, Number(flags.port));
