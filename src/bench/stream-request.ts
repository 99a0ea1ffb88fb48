/**
 * Sends one streaming OpenAI request (chat or completions) with node:http(s) and measures it: the time
 * to the first output text, the gap before every later text chunk, the end, and the token counts from the
 * final `usage` chunk (`stream_options.include_usage`) or, when the engine sends none, one token per chunk.
 * Failures are classified into the results schema's error kinds; nothing is thrown.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isStaleConnectionReset } from '../http/stale-connection.js';
import type { BenchErrorKind } from '../spec/bench-result.js';
import { errorBodyMessage } from '../spec/edgefleet-error.js';

export interface StreamRequestOptions {
  /** The full endpoint URL (…/v1/chat/completions or …/v1/completions). */
  url: string;
  body: Record<string, unknown>;
  apiKey: string | null;
  timeoutMs: number;
  /** A clock in seconds (the step's clock). */
  nowS: () => number;
  /** Called with each text chunk's arrival (for live progress). */
  onChunk?: () => void;
  /** Aborts the request (Ctrl-C before anything is measured); it then ends as timed out. */
  cancel?: AbortSignal;
}

export interface StreamOutcome {
  startS: number;
  endS: number;
  ok: boolean;
  errorKind: BenchErrorKind | null;
  error: string;
  firstTextS: number | null;
  chunkTimesS: number[];
  text: string;
  usage: { promptTokens: number; completionTokens: number } | null;
  finishReason: string | null;
  /** The HTTP status (0 when no response came). */
  status: number;
  /** The error body of a non-200 answer (its first 500 characters). */
  errorBody: string;
}

interface ChunkJson {
  choices?: {
    delta?: { content?: string | null; reasoning_content?: string | null };
    text?: string;
    finish_reason?: string | null;
  }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string };
}

function connectionKind(error: unknown, signal: AbortSignal): { kind: BenchErrorKind; message: string } {
  const err = error as { name?: string; code?: string; message?: string };
  if (signal.aborted || err?.name === 'TimeoutError' || err?.name === 'AbortError') {
    return { kind: 'timeout', message: 'timed out' };
  }
  const detail = err?.code ?? err?.message ?? String(error);
  return { kind: 'connection', message: `connection failed: ${detail}` };
}

/** Extracts the text, finish reason, usage or error of one parsed SSE data payload. */
export function readChunk(json: ChunkJson): {
  text: string;
  finishReason: string | null;
  usage: StreamOutcome['usage'];
  error: string | null;
} {
  const choice = json.choices?.[0];
  const text =
    (choice?.delta?.reasoning_content ?? '') + (choice?.delta?.content ?? '') + (choice?.text ?? '');
  const usage =
    json.usage &&
    typeof json.usage.prompt_tokens === 'number' &&
    typeof json.usage.completion_tokens === 'number'
      ? { promptTokens: json.usage.prompt_tokens, completionTokens: json.usage.completion_tokens }
      : null;
  const error = json.error ? (json.error.message ?? 'error event in stream') : null;
  return { text, finishReason: choice?.finish_reason ?? null, usage, error };
}

const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

interface RawResponse {
  status: number;
  body: AsyncIterable<Buffer>;
}

/**
 * POSTs JSON with node:http(s) (keep-alive, no Nagle delay) and resolves with the status and body stream.
 * A pooled connection the server had closed (llama-server closes one after each streamed answer) is
 * retried once on a fresh connection.
 */
function post(
  url: URL,
  payload: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  retryStale = true,
): Promise<RawResponse> {
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      {
        method: 'POST',
        agent: secure ? agents.https : agents.http,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(payload)) },
        signal,
      },
      (res) => resolve({ status: res.statusCode ?? 0, body: res }),
    );
    req.on('socket', (socket) => socket.setNoDelay(true));
    req.on('error', (error) => {
      if (retryStale && isStaleConnectionReset(req, error)) {
        post(url, payload, headers, signal, false).then(resolve, reject);
      } else {
        reject(error);
      }
    });
    req.end(payload);
  });
}

export async function streamRequest(options: StreamRequestOptions): Promise<StreamOutcome> {
  const payload = JSON.stringify(options.body);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'text/event-stream',
    ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
  };
  const outcome: StreamOutcome = {
    startS: options.nowS(),
    endS: 0,
    ok: false,
    errorKind: null,
    error: '',
    firstTextS: null,
    chunkTimesS: [],
    text: '',
    usage: null,
    finishReason: null,
    status: 0,
    errorBody: '',
  };
  const fail = (kind: BenchErrorKind, message: string): StreamOutcome => {
    outcome.endS = options.nowS();
    outcome.errorKind = kind;
    outcome.error = message;
    return outcome;
  };
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.cancel ? AbortSignal.any([timeout, options.cancel]) : timeout;
  let response: RawResponse;
  try {
    response = await post(new URL(options.url), payload, headers, signal);
  } catch (error) {
    const { kind, message } = connectionKind(error, signal);
    return fail(kind, message);
  }
  outcome.status = response.status;
  if (response.status !== 200) {
    let body = '';
    try {
      for await (const bytes of response.body) if (body.length < 2000) body += bytes.toString('utf8');
    } catch {
      // the status says enough
    }
    outcome.errorBody = body.slice(0, 500);
    const kind: BenchErrorKind =
      response.status === 429 ? 'http_429' : response.status >= 500 ? 'http_5xx' : 'http_4xx';
    const said = errorBodyMessage(body)?.message ?? body.slice(0, 200);
    const hint = response.status === 401 && !options.apiKey ? ' (pass --api-key)' : '';
    return fail(kind, `HTTP ${response.status}: ${said}${hint}`);
  }
  let done = false;
  try {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const bytes of response.body) {
      const arrivedS = options.nowS();
      buffer += decoder.decode(bytes, { stream: true });
      let boundary: number;
      while ((boundary = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const event = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, '');
        const data = event
          .split(/\r?\n/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        if (data === '') continue;
        if (data === '[DONE]') {
          done = true;
          continue;
        }
        const chunk = readChunk(JSON.parse(data) as ChunkJson);
        if (chunk.error !== null) return fail('stream', `error in stream: ${chunk.error}`);
        if (chunk.usage) outcome.usage = chunk.usage;
        if (chunk.finishReason) outcome.finishReason = chunk.finishReason;
        if (chunk.text !== '') {
          outcome.firstTextS ??= arrivedS;
          outcome.chunkTimesS.push(arrivedS);
          outcome.text += chunk.text;
          options.onChunk?.();
        }
      }
    }
  } catch (error) {
    if (error instanceof SyntaxError) return fail('stream', `malformed stream: ${error.message}`);
    const { kind, message } = connectionKind(error, signal);
    return fail(kind === 'connection' ? 'incomplete' : kind, message);
  }
  if (!done && outcome.finishReason === null) return fail('incomplete', 'stream ended before [DONE]');
  if (outcome.firstTextS === null && (outcome.usage?.completionTokens ?? 0) > 0) {
    return fail('stream', 'no output text in stream');
  }
  outcome.endS = options.nowS();
  outcome.ok = true;
  return outcome;
}
