/**
 * Forwards one buffered request to an instance over undici's connection pools (one keep-alive pool per
 * instance origin) and relays the answer: a non-streamed answer is held to read its usage, an event
 * stream is relayed event by event (SseUsageRelay). undici's low-level `dispatch` is used rather than
 * node:http's client: it costs about a third less CPU per request, which is most of a gateway's work.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import { sendError } from '../../http/respond.js';
import { EdgeFleetError, toOpenAiError } from '../../spec/edgefleet-error.js';
import { generatedTextOf, parseJsonObject, usageObject } from './openai-json.js';
import { readUsage, SseUsageRelay, type TokenUsage } from './sse-usage-relay.js';

/** Not passed on in either direction (hop-by-hop, or set by the client library for the new hop). */
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
  'expect',
]);

/** An instance that accepts no connection within this long is unreachable (the caller may try another). */
const connectTimeoutMs = 3000;

/** Keep-alive pools per instance origin, shared by every gateway in the process. */
const upstreamAgent = new Agent({ connect: { timeout: connectTimeoutMs }, pipelining: 1 });

/** Error codes of a connection that closed or reset before any answer (a keep-alive connection the server had closed). */
const connectionLostCodes = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

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
   * Called with a function that ends the attempt; returns the function that stops watching. Calling it
   * before the instance answered (its health check failed meanwhile) ends the attempt with an
   * UpstreamRefusedError, so the caller may try another instance; after the answer began it does nothing.
   */
  watchUnanswered?: (abort: () => void) => () => void;
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
 * byte (no connection within 3 s, a reset, no answer within `firstByteTimeoutMs`) reject with an
 * UpstreamRefusedError, so the caller may try again elsewhere; a connection that closes or resets before
 * any answer is first tried once more (a pooled keep-alive connection the server had closed: llama-server
 * closes one after every streamed answer without saying so). A failure after the first byte — the engine
 * dies, sends nothing for `idleTimeoutMs`, ends a stream without `[DONE]`, or answers 2xx with a body
 * that is not JSON — is never passed on as a success: an event stream ends with an error event (never
 * `[DONE]`), a held JSON answer becomes a 502 `engine_error`, and a body already partly sent is cut. A
 * client that goes away aborts the upstream request at once; a client that reads slower than the engine
 * writes pauses the upstream, and one that reads nothing for `idleTimeoutMs` is cut off.
 */
export function forwardRequest(
  client: { request: IncomingMessage; response: ServerResponse },
  upstreamBaseUrl: string,
  body: Buffer,
  options: ForwardOptions = {},
): Promise<ForwardResult> {
  const { request } = client;
  // Only the path and query of the client's request target are used: the host is always the instance's,
  // whatever the target says (`POST http://elsewhere/…`, `//elsewhere/…`, a path normalized to `//…`).
  const asked = new URL(request.url ?? '/', 'http://gateway.invalid');
  const headers: Record<string, string | string[]> = {};
  const incoming = request.headers;
  for (const name in incoming) {
    const value = incoming[name];
    if (value !== undefined && !hopByHop.has(name)) headers[name] = value;
  }
  // The client's EdgeFleet key stays here; an upstream that needs one gets its own.
  delete headers['authorization'];
  if (options.upstreamApiKey !== undefined) headers['authorization'] = `Bearer ${options.upstreamApiKey}`;
  const dispatch: Dispatcher.DispatchOptions = {
    origin: originOf(upstreamBaseUrl),
    path: asked.pathname + asked.search,
    method: (request.method ?? 'POST') as Dispatcher.HttpMethod,
    headers,
    body,
    headersTimeout: options.firstByteTimeoutMs ?? 0,
    bodyTimeout: options.idleTimeoutMs ?? 0,
  };
  return new Promise<ForwardResult>((resolve, reject) => {
    new ForwardAttempt(client.response, dispatch, options, resolve, reject).send();
  });
}

const origins = new Map<string, string>();

/** `scheme://host:port` of an instance's base URL (cached: the same few URLs come with every request). */
function originOf(baseUrl: string): string {
  let origin = origins.get(baseUrl);
  if (origin === undefined) {
    origin = new URL(baseUrl).origin;
    if (origins.size >= 4096) origins.clear();
    origins.set(baseUrl, origin);
  }
  return origin;
}

/** One forwarded request: undici's handler for the upstream answer, and the client's response. */
class ForwardAttempt implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  /** The upstream answered (status and headers); from here on nothing is retried. */
  private answered = false;
  private settled = false;
  private resent = false;
  private clientGone = false;
  private unwatch: (() => void) | undefined;
  // The answer being relayed.
  private status = 0;
  private isStream = false;
  private replyHeaders: Record<string, string | string[]> = {};
  private relay: SseUsageRelay | undefined;
  /** A non-streamed answer held (bounded) so its usage can be read (or added) before it is sent. */
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  /** A 5xx or 429 answer read (its start) to explain the refusal. */
  private refusalText: string | undefined;
  private waitingForDrain = false;

  constructor(
    private readonly response: ServerResponse,
    private readonly dispatch: Dispatcher.DispatchOptions,
    private readonly options: ForwardOptions,
    private readonly resolve: (result: ForwardResult) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  send(): void {
    this.response.once('close', this.onClientClose);
    this.unwatch = this.options.watchUnanswered?.(this.onDown);
    upstreamAgent.dispatch(this.dispatch, this);
  }

  private readonly onClientClose = () => {
    if (this.response.writableFinished) return;
    this.clientGone = true;
    this.controller?.abort(new Error('the client went away'));
  };

  private readonly onDown = () => {
    if (this.answered) return;
    this.refuse(new UpstreamRefusedError('the instance failed its health check before it answered', null));
    this.controller?.abort(new Error('the instance failed its health check'));
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone || this.settled) controller.abort(new Error('the request ended before it was sent'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    status: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (status < 200) return; // 1xx: the answer is still to come
    this.answered = true;
    this.stopWatching();
    this.status = status;
    const { options } = this;
    if (options.refuseErrorStatus && (status >= 500 || status === 429)) {
      this.refusalText = '';
      return;
    }
    const replyHeaders: Record<string, string | string[]> = { ...options.extraHeaders };
    for (const name in headers) {
      const value = headers[name];
      if (value !== undefined && (!hopByHop.has(name) || name === 'content-length'))
        replyHeaders[name] = value;
    }
    this.replyHeaders = replyHeaders;
    const contentType = headers['content-type'];
    this.isStream = typeof contentType === 'string' && contentType.startsWith('text/event-stream');
    const { meter } = options;
    if (meter && this.isStream) this.relay = new SseUsageRelay(meter.clientWantsUsage);
    else if (meter) this.held = [];
    // The headers leave with the first bytes of the body (node:http writes them together).
    if (!this.held) this.writeHead();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.refusalText !== undefined) {
      if (this.refusalText.length < 2048)
        this.refusalText = (this.refusalText + chunk.toString()).slice(0, 2048);
      return;
    }
    const { relay, held } = this;
    if (relay) {
      const out = relay.push(chunk, Date.now());
      if (out.length > 0) this.write(controller, out);
    } else if (held && this.heldBytes + chunk.length <= maxMeteredBodyBytes) {
      held.push(chunk);
      this.heldBytes += chunk.length;
    } else {
      if (held) {
        this.writeHead();
        for (const part of held) this.response.write(part);
        this.held = undefined;
      }
      this.write(controller, chunk);
    }
  }

  onResponseEnd(): void {
    const { status, relay, options } = this;
    if (this.refusalText !== undefined) {
      return this.refuse(
        new UpstreamRefusedError(
          `the instance answered ${status}: ${upstreamMessage(this.refusalText)}`,
          status,
        ),
      );
    }
    const body = this.held ? (this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held)) : undefined;
    const json = body ? parseJsonObject(body.toString('utf8')) : null;
    if (status < 300 && relay && !relay.sawDone) {
      return this.broken('the engine ended the stream without [DONE]');
    }
    if (status < 300 && body && !json) {
      // Nothing reached the client yet: like a 5xx, another instance may answer (not on the last try).
      const message = 'the engine answered with a body that is not a JSON object';
      if (options.refuseErrorStatus)
        return this.refuse(new UpstreamRefusedError(`the instance answered ${status}: ${message}`, status));
      return this.broken(message);
    }
    void this.settle(this.answer(true, json)).then(({ result, counted }) => {
      const { response } = this;
      if (relay) {
        response.end(relay.finish(counted));
      } else if (body) {
        const out = counted && json && result.usage === null ? withUsage(json, counted) : body;
        this.writeHead(out === body ? undefined : out.length);
        response.end(out);
      } else {
        response.end();
      }
      this.finish(result);
    });
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.settled) return;
    const code = (error as { code?: unknown }).code;
    if (this.answered) {
      if (this.refusalText !== undefined) return this.onResponseEnd(); // a 5xx or 429 cut short: still a refusal
      return this.broken(
        code === 'UND_ERR_BODY_TIMEOUT'
          ? `the engine sent nothing for ${this.options.idleTimeoutMs} ms and was cut off`
          : 'the engine stopped in the middle of the response',
      );
    }
    if (!this.resent && !this.clientGone && typeof code === 'string' && connectionLostCodes.has(code)) {
      // Nothing of an answer came: a pooled connection the server had closed. Once more, on another one.
      this.resent = true;
      this.controller = undefined;
      upstreamAgent.dispatch(this.dispatch, this);
      return;
    }
    const message =
      code === 'UND_ERR_HEADERS_TIMEOUT'
        ? `the instance sent no answer within ${this.options.firstByteTimeoutMs} ms`
        : `the engine is not reachable: ${error.message}`;
    this.refuse(new UpstreamRefusedError(message, null, error));
  }

  private writeHead(length?: number): void {
    if (length !== undefined) this.replyHeaders['content-length'] = String(length);
    this.response.writeHead(this.status, this.replyHeaders);
  }

  /**
   * Writes to a client that may read slower than the engine writes: the upstream waits for it (nothing
   * piles up here), and a client that takes nothing for `idleTimeoutMs` is cut off, freeing the engine.
   */
  private write(controller: Dispatcher.DispatchController, bytes: Buffer): void {
    const { response } = this;
    if (response.write(bytes) || this.waitingForDrain || response.destroyed) return;
    this.waitingForDrain = true;
    controller.pause();
    const { idleTimeoutMs } = this.options;
    const stuck =
      idleTimeoutMs === undefined ? undefined : setTimeout(() => response.destroy(), idleTimeoutMs);
    response.once('drain', () => {
      clearTimeout(stuck);
      this.waitingForDrain = false;
      controller.resume();
    });
    response.once('close', () => clearTimeout(stuck));
  }

  private answer(completed: boolean, json?: Record<string, unknown> | null): MeteredAnswer {
    const { relay, status } = this;
    return {
      status,
      completed,
      usage: relay ? relay.usage : json ? readUsage(json['usage']) : null,
      firstTextAtMs: relay?.firstTextAtMs ?? null,
      textChunks: relay?.textChunks ?? 0,
      generatedText: () => (relay ? relay.generatedText() : json ? generatedTextOf(json, 'message') : null),
    };
  }

  private async settle(result: MeteredAnswer) {
    const counted = await this.options.meter?.beforeEnd(result).catch(() => undefined);
    return { result, counted: counted ?? null };
  }

  /** The answer failed after the instance began it: never passed on as a success. */
  private broken(message: string): void {
    if (this.settled) return;
    this.settled = true; // no second verdict while the meter runs
    void this.settle(this.answer(false)).then(({ result }) => {
      const { response } = this;
      const error = new EdgeFleetError('engine_error', message);
      if (this.isStream) {
        if (!response.destroyed) response.end(`data: ${JSON.stringify(toOpenAiError(error).body)}\n\n`);
      } else if (this.held && !response.headersSent) {
        sendError(response, error);
      } else {
        response.destroy();
      }
      this.done();
      this.resolve(result);
    });
  }

  private finish(result: ForwardResult): void {
    this.settled = true;
    this.done();
    this.resolve(result);
  }

  private refuse(error: UpstreamRefusedError): void {
    if (this.settled) return;
    this.settled = true;
    this.done();
    this.reject(error);
  }

  private done(): void {
    this.stopWatching();
    this.response.off('close', this.onClientClose);
  }

  private stopWatching(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }
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
