/**
 * A small streaming OpenAI-style client for benchmarks: POST /v1/completions with `stream: true`, parse the
 * server-sent events, time the first token and the end, and take the token counts from the final `usage`
 * chunk (cross-checked against the number of content chunks).
 */
import { performance } from 'node:perf_hooks';

/**
 * Parses an SSE byte stream into the `data:` payloads of its events.
 * @param {ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<string>}
 */
export async function* sseData(body) {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    buffer = buffer.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(line[5] === ' ' ? 6 : 5));
      if (data.length > 0) yield data.join('\n');
    }
  }
  buffer += decoder.decode();
  const rest = buffer
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(line[5] === ' ' ? 6 : 5));
  if (rest.length > 0) yield rest.join('\n');
}

/**
 * One streamed completion. Times are milliseconds from the request start. `signal` stops it early (the
 * promise then rejects); `onToken` is called at each content chunk, as it arrives.
 * @param {{ baseUrl: string, model: string, prompt: string, maxTokens: number, timeoutMs: number,
 *           signal?: AbortSignal, onToken?: () => void }} options
 */
export async function streamCompletion({
  baseUrl,
  model,
  prompt,
  maxTokens,
  timeoutMs,
  signal: stop,
  onToken,
}) {
  const start = performance.now();
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = stop ? AbortSignal.any([timeout, stop]) : timeout;
  const body = JSON.stringify({
    model,
    prompt,
    max_tokens: maxTokens,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
    ignore_eos: true,
  });
  const send = () =>
    fetch(`${baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body,
      signal,
    });
  // A pooled keep-alive connection that the server closed meanwhile fails at once, before any response
  // ("fetch failed"); nothing was generated, so send the request again (counted in `resent`; TTFT still
  // runs from the first attempt).
  let resent = 0;
  let response;
  for (;;) {
    try {
      response = await send();
      break;
    } catch (error) {
      if (signal.aborted || resent >= 2 || !(error instanceof TypeError)) throw error;
      resent += 1;
    }
  }
  if (!response.ok || !response.body) {
    const text = await response.text().catch(() => '');
    throw new Error(`HTTP ${response.status} from ${baseUrl}/v1/completions: ${text.slice(0, 500)}`);
  }
  let firstTokenAt;
  let lastTokenAt;
  let chunks = 0;
  let usage;
  let finishReason;
  let done = false;
  let serverTimings;
  for await (const data of sseData(response.body)) {
    if (data.trim() === '[DONE]') {
      done = true;
      break;
    }
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(`stream error: ${JSON.stringify(chunk.error).slice(0, 500)}`);
    const choice = chunk.choices?.[0];
    if (choice) {
      const text = choice.text ?? choice.delta?.content ?? '';
      if (text.length > 0) {
        const now = performance.now() - start;
        firstTokenAt ??= now;
        lastTokenAt = now;
        chunks += 1;
        onToken?.();
      }
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
    if (chunk.timings) serverTimings = chunk.timings;
  }
  const end = performance.now() - start;
  if (firstTokenAt === undefined) throw new Error('the stream carried no token');
  const completionTokens = usage?.completion_tokens ?? chunks;
  return {
    ttftMs: firstTokenAt,
    lastTokenMs: lastTokenAt,
    latencyMs: end,
    completionTokens,
    promptTokens: usage?.prompt_tokens,
    chunks,
    usageReported: usage !== undefined,
    done,
    finishReason,
    serverTimings,
    resent,
  };
}

/**
 * Runs `requests` streamed completions with `concurrency` closed-loop workers.
 * @param {{ baseUrl: string, model: string, prompts: string[], maxTokens: number, timeoutMs: number,
 *           concurrency: number }} options
 */
export async function runLoad({ baseUrl, model, prompts, maxTokens, timeoutMs, concurrency }) {
  let next = 0;
  const results = [];
  const start = performance.now();
  const worker = async () => {
    while (next < prompts.length) {
      const index = next++;
      const requestStart = performance.now() - start;
      try {
        const result = await streamCompletion({
          baseUrl,
          model,
          prompt: prompts[index],
          maxTokens,
          timeoutMs,
        });
        results.push({ index, startMs: requestStart, ...result });
      } catch (error) {
        const cause = error?.cause ? ` (${error.cause.code ?? error.cause.message ?? error.cause})` : '';
        const message = error instanceof Error ? `${error.name}: ${error.message}${cause}` : String(error);
        results.push({ index, startMs: requestStart, error: message });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - start;
  return { wallMs, results: results.sort((a, b) => a.index - b.index) };
}

const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Summary figures of one load run. */
export function summarize({ wallMs, results: all }) {
  const results = all.filter((r) => r.error === undefined);
  const errors = all.filter((r) => r.error !== undefined).map((r) => r.error);
  const ttft = results.map((r) => r.ttftMs);
  const tpot = results
    .filter((r) => r.completionTokens > 1)
    .map((r) => (r.latencyMs - r.ttftMs) / (r.completionTokens - 1));
  const completionTokens = results.reduce((sum, r) => sum + r.completionTokens, 0);
  const mismatches = results.filter((r) => r.usageReported && r.chunks !== r.completionTokens).length;
  return {
    requests: all.length,
    failed: errors.length,
    errors: [...new Set(errors)].slice(0, 5),
    meanPromptTokens: mean(results.map((r) => r.promptTokens ?? Number.NaN)),
    completionTokens,
    meanCompletionTokens: completionTokens / results.length,
    wallMs,
    meanTtftMs: mean(ttft),
    p50TtftMs: percentile(ttft, 50),
    maxTtftMs: Math.max(...ttft),
    meanTpotMs: mean(tpot),
    p90TpotMs: percentile(tpot, 90),
    meanLatencyMs: mean(results.map((r) => r.latencyMs)),
    aggregateTokS: completionTokens / (wallMs / 1000),
    singleStreamDecodeTokS: 1000 / mean(tpot),
    usageReported: results.every((r) => r.usageReported),
    resentRequests: results.filter((r) => r.resent > 0).length,
    chunkUsageMismatches: mismatches,
    finishReasons: [...new Set(results.map((r) => r.finishReason))],
  };
}
