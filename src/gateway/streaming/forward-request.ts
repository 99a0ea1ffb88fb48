import {
  Agent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { sendError } from '../../http/respond.js';
import { isStaleConnectionReset } from '../../http/stale-connection.js';
import { EdgeFleetError, toOpenAiError } from '../../spec/edgefleet-error.js';
import { generatedTextOf, parseJsonObject, usageObject } from './openai-json.js';
import { readUsage, SseUsageRelay, type TokenUsage } from './sse-usage-relay.js';

const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

/**
 * The upstream could not take the request and nothing was sent to the client yet: it was unreachable,
 * or (when the caller allowed it) it answered 5xx or 429. The caller may try another instance.
 */
export class UpstreamRefusedError extends EdgeFleetError {
  constructor(
    message: string,
    readonly upstreamStatus: number | null,
    cause?: unknown,
  ) {
    super(upstreamStatus === 429 ? 'server_busy' : 'engine_unavailable', message, { cause });
  }
}

/** What the gateway meters from one forwarded answer. */
export interface MeteredAnswer {
  status: number;
  /** True when the upstream ended its response normally. */
  completed: boolean;
  usage: TokenUsage | null;
  /** When the first generated text passed (streams only). */
  firstTextAtMs: number | null;
  /** Stream chunks with generated text (the count when the engine reports no usage). */
  textChunks: number;
  /** The answer's generated text (read on demand), or null when it is not known in full. */
  generatedText(): string | null;
}

export interface ForwardMeter {
  /** The client asked for `stream_options.include_usage` itself (else the usage-only chunk is dropped). */
  clientWantsUsage: boolean;
  /**
   * Runs after the upstream ended and before the client gets the last bytes (the usage journal). When the
   * engine reported no usage it may resolve to a counted one, which the client then gets in the answer.
   */
  beforeEnd(answer: MeteredAnswer): Promise<TokenUsage | null | void>;
}

/** Non-streamed answers up to this size are held to read their usage; larger ones pass through unmetered. */
const maxMeteredBodyBytes = 8 * 1024 * 1024;

export interface ForwardOptions {
  /** Headers added to the client's response. */
  extraHeaders?: Record<string, string>;
  /** Turn a 5xx or 429 answer into an UpstreamRefusedError instead of forwarding it (not on the last try). */
  refuseErrorStatus?: boolean;
  meter?: ForwardMeter;
  /**
   * Aborting it before the instance answered (its health check failed meanwhile) ends the attempt with
   * an UpstreamRefusedError, so the caller may try another instance; after the answer began it is ignored.
   */
  abortUnanswered?: AbortSignal;
  /** Give up connecting after this long (default 3000); the caller may then try another instance. */
  connectTimeoutMs?: number;
  /** Give up waiting for the answer's headers after this long (a stalled engine); the caller may retry. */
  firstByteTimeoutMs?: number;
  /** Cut an answer that sends nothing for this long (a stream then ends with an error event). */
  idleTimeoutMs?: number;
  /** Sent upstream as `Authorization: Bearer …` (an external endpoint's key); the client's own credential never is. */
  upstreamApiKey?: string;
}

export type ForwardResult = MeteredAnswer;

/**
 * Sends one buffered request to an upstream and streams the answer back. Failures before the first
 * byte (no connection, no answer within `firstByteTimeoutMs`) reject with an UpstreamRefusedError, so the
 * caller may try again elsewhere. A failure after it — the engine dies, sends nothing for
 * `idleTimeoutMs`, ends a stream without `[DONE]`, or answers 2xx with a body that is not JSON — is never
 * passed on as a success: an event stream ends with an error event (never `[DONE]`), a held JSON answer
 * becomes a 502 `engine_error`, and a body already partly sent is cut. A client that goes away aborts the
 * upstream request at once.
 */
export function forwardRequest(
  client: { request: IncomingMessage; response: ServerResponse },
  upstreamBaseUrl: string,
  body: Buffer,
  options: ForwardOptions = {},
): Promise<ForwardResult> {
  const { extraHeaders = {}, refuseErrorStatus = false, connectTimeoutMs = 3000 } = options;
  const { request, response } = client;
  // Only the path and query of the client's request target are used: the host is always the instance's,
  // whatever the target says (`POST http://elsewhere/…`, `//elsewhere/…`, a path normalized to `//…`).
  const asked = new URL(request.url ?? '/', 'http://gateway.invalid');
  const target = new URL(upstreamBaseUrl);
  target.pathname = asked.pathname;
  target.search = asked.search;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && !hopByHop.has(name)) headers[name] = value;
  }
  headers['content-length'] = String(body.length);
  // The client's EdgeFleet key stays here; an upstream that needs one gets its own.
  delete headers['authorization'];
  if (options.upstreamApiKey !== undefined) headers['authorization'] = `Bearer ${options.upstreamApiKey}`;

  return new Promise<ForwardResult>((resolve, reject) => {
    let answered = false;
    const firstByteTimer =
      options.firstByteTimeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            if (answered) return;
            reject(
              new UpstreamRefusedError(
                `the instance sent no answer within ${options.firstByteTimeoutMs} ms`,
                null,
              ),
            );
            upstream.destroy();
          }, options.firstByteTimeoutMs);
    /** The current attempt's request (a second one only after a stale keep-alive connection). */
    let upstream: ClientRequest;
    let resent = false;
    const onReply = (reply: IncomingMessage) => {
      answered = true;
      clearTimeout(firstByteTimer);
      const status = reply.statusCode ?? 502;
      if (refuseErrorStatus && (status >= 500 || status === 429)) {
        let text = '';
        reply.setEncoding('utf8');
        reply.on('data', (chunk: string) => (text = (text + chunk).slice(0, 2048)));
        reply.on('close', () =>
          reject(
            new UpstreamRefusedError(`the instance answered ${status}: ${upstreamMessage(text)}`, status),
          ),
        );
        return;
      }
      const replyHeaders: Record<string, string | string[]> = { ...extraHeaders };
      for (const [name, value] of Object.entries(reply.headers)) {
        if (value !== undefined && (!hopByHop.has(name) || name === 'content-length'))
          replyHeaders[name] = value;
      }
      const isStream = String(reply.headers['content-type'] ?? '').startsWith('text/event-stream');
      const { meter } = options;
      const relay = meter && isStream ? new SseUsageRelay(meter.clientWantsUsage) : undefined;
      // A non-streamed answer is held (bounded) so its usage can be read (or added) before it is sent;
      // its headers wait with it, since adding usage changes its length.
      let held: Buffer[] | undefined = meter && !isStream ? [] : undefined;
      let heldBytes = 0;
      let ended = false;
      // The headers leave with the first bytes of the body (one write, not two).
      const writeHead = (length?: number) => {
        if (length !== undefined) replyHeaders['content-length'] = String(length);
        response.writeHead(status, replyHeaders);
      };
      if (!held) writeHead();
      const answer = (completed: boolean, json?: Record<string, unknown> | null): MeteredAnswer => ({
        status,
        completed,
        usage: relay ? relay.usage : json ? readUsage(json['usage']) : null,
        firstTextAtMs: relay?.firstTextAtMs ?? null,
        textChunks: relay?.textChunks ?? 0,
        generatedText: () => (relay ? relay.generatedText() : json ? generatedTextOf(json, 'message') : null),
      });
      const settle = async (result: MeteredAnswer) => {
        const counted = await meter?.beforeEnd(result).catch(() => undefined);
        return { result, counted: counted ?? null };
      };
      // An engine that goes quiet mid-answer is cut (`idleTimeoutMs`); each read re-arms the timer.
      let idle = false;
      const idleTimer =
        options.idleTimeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              idle = true;
              reply.destroy();
            }, options.idleTimeoutMs);
      reply.on('data', (chunk: Buffer) => {
        idleTimer?.refresh();
        if (relay) {
          const out = relay.push(chunk, Date.now());
          if (out.length > 0) response.write(out);
        } else if (held && heldBytes + chunk.length <= maxMeteredBodyBytes) {
          held.push(chunk);
          heldBytes += chunk.length;
        } else {
          if (held) {
            writeHead();
            for (const part of held) response.write(part);
          }
          held = undefined;
          response.write(chunk);
        }
      });
      /** The answer failed after the instance began it: never passed on as a success. */
      const broken = (message: string) => {
        void settle(answer(false)).then(({ result }) => {
          const error = new EdgeFleetError('engine_error', message);
          if (isStream) {
            if (!response.destroyed) response.end(`data: ${JSON.stringify(toOpenAiError(error).body)}\n\n`);
          } else if (held && !response.headersSent) {
            sendError(response, error);
          } else {
            response.destroy();
          }
          resolve(result);
        });
      };
      reply.on('end', () => {
        ended = true;
        clearTimeout(idleTimer);
        const body = held ? Buffer.concat(held) : undefined;
        const json = body ? parseJsonObject(body.toString('utf8')) : null;
        if (status < 300 && relay && !relay.sawDone) {
          return broken('the engine ended the stream without [DONE]');
        }
        if (status < 300 && body && !json) {
          // Nothing reached the client yet: like a 5xx, another instance may answer (not on the last try).
          const message = 'the engine answered with a body that is not a JSON object';
          if (refuseErrorStatus)
            return reject(new UpstreamRefusedError(`the instance answered ${status}: ${message}`, status));
          return broken(message);
        }
        void settle(answer(true, json)).then(({ result, counted }) => {
          if (relay) {
            response.end(relay.finish(counted));
          } else if (body) {
            const out = counted && json && result.usage === null ? withUsage(json, counted) : body;
            writeHead(out === body ? undefined : out.length);
            response.end(out);
          } else {
            response.end();
          }
          resolve(result);
        });
      });
      reply.on('close', () => {
        clearTimeout(idleTimer);
        if (ended) return;
        broken(
          idle
            ? `the engine sent nothing for ${options.idleTimeoutMs} ms and was cut off`
            : 'the engine stopped in the middle of the response',
        );
      });
    };
    const signal = options.abortUnanswered;
    const onAbort = () => {
      if (answered) return;
      reject(new UpstreamRefusedError('the instance failed its health check before it answered', null));
      upstream.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const send = () => {
      const attempt = httpRequest(target, { method: request.method, headers, agent }, onReply);
      upstream = attempt;
      // An instance whose network drops packets must not hold the attempt until TCP gives up.
      attempt.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(
          () => attempt.destroy(new Error(`no connection within ${connectTimeoutMs} ms`)),
          connectTimeoutMs,
        );
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      attempt.once('close', () => {
        if (attempt !== upstream) return; // the stale connection's request, replaced by a fresh one
        clearTimeout(firstByteTimer);
        signal?.removeEventListener('abort', onAbort);
      });
      attempt.on('error', (error) => {
        if (answered || attempt !== upstream) return;
        if (!resent && isStaleConnectionReset(attempt, error)) {
          resent = true;
          send();
          return;
        }
        reject(new UpstreamRefusedError(`the engine is not reachable: ${error.message}`, null, error));
      });
      attempt.end(body);
    };
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
    send();
  });
}

/** A JSON answer with `usage` set to the counted one. */
function withUsage(parsed: Record<string, unknown>, counted: TokenUsage): Buffer {
  return Buffer.from(JSON.stringify({ ...parsed, usage: usageObject(counted) }));
}

/** The message of an OpenAI-shaped error body, else the start of the text. */
function upstreamMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') return parsed.error.message;
  } catch {
    // not JSON
  }
  return text.slice(0, 200) || '(no body)';
}
