/**
 * One forwarded request as undici's dispatch handler: it relays the instance's answer to the client's
 * response (a JSON answer held to read its usage, an event stream relayed event by event), meters it, and
 * turns every failure into a refusal the caller may retry elsewhere (nothing reached the client yet) or a
 * broken answer that never passes for a success. The response's status and headers are handed to node:http
 * with the first bytes relayed, not when the instance answers: an engine that dies after its headers and
 * before any of its answer (a crash in prefill) is still a refusal, retried on another instance.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { endBrokenAnswer } from './end-broken-answer.js';
import {
  UpstreamRefusedError,
  type ForwardOptions,
  type ForwardResult,
  type MeteredAnswer,
} from './forward-types.js';
import { generatedTextOf, parseJsonObject } from './openai-json.js';
import { maxEventBytes, readUsage, SseUsageRelay } from './sse-usage-relay.js';
import { AnswerTail, isMalformedAnswer, startsAsJsonObject, withUsage } from './upstream-answer.js';
import { UpstreamRefusal } from './upstream-refusal.js';
import {
  connectionFailure,
  copyEndToEndHeaders,
  isConnectFailure,
  isConnectionLost,
  upstreamAgent,
} from './upstream-pool.js';

/**
 * Non-streamed answers up to this size are held to read their usage; larger ones pass through, and their
 * usage is read from their end (AnswerTail).
 */
const maxMeteredBodyBytes = 8 * 1024 * 1024;
/** How long an engine may keep its stream open after `[DONE]` before the gateway ends the answer. */
const afterDoneMs = 1000;
const notJsonObject = 'the engine answered with a body that is not a JSON object';
const jsonToStream = 'the engine answered a streamed request with a JSON body, not server-sent events';

/** One forwarded request: undici's handler for the upstream answer, and the client's response. */
export class ForwardAttempt implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  /** The upstream answered (status and headers); no longer cut off by a failed health check. */
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
  /** A 5xx, 429, 401 or 403 answer read (its start) to explain the refusal. */
  private refusal: UpstreamRefusal | undefined;
  /** The end of a large answer passed through unheld. */
  private tail: AnswerTail | undefined;
  /** The answer ended (or `[DONE]` came and the engine kept the stream open): no later error counts. */
  private ended = false;
  private doneTimer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;
  /** Cuts off a client that read nothing for `idleTimeoutMs` while the upstream waits for it. */
  private stuck: NodeJS.Timeout | undefined;

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
    clearTimeout(this.stuck);
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
    // 401/403: the instance refused the gateway's own credential (an endpoint's key), never the client's:
    // always a refusal, so the client does not take it for a verdict on its key.
    const refusesGateway = status === 401 || status === 403;
    if (refusesGateway || (options.refuseErrorStatus && (status >= 500 || status === 429))) {
      this.refusal = new UpstreamRefusal(status, headers, this.endRefusal);
      return;
    }
    const encoding = headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      // Asked for `identity`; a compressed answer could be neither metered nor checked.
      this.failed(`the engine answered with content-encoding "${String(encoding)}", which was not asked for`);
      this.controller?.abort(new Error('compressed answer'));
      return;
    }
    // The gateway's own headers win over the instance's (an instance that is itself a gateway sends them).
    this.replyHeaders = Object.assign(
      copyEndToEndHeaders(headers, {}, 'content-length'),
      options.extraHeaders,
    );
    const contentType = headers['content-type'];
    this.isStream =
      typeof contentType === 'string' &&
      (contentType.startsWith('text/event-stream') ||
        contentType.toLowerCase().startsWith('text/event-stream'));
    const { meter } = options;
    if (meter && this.isStream) this.relay = new SseUsageRelay(meter.clientWantsUsage);
    else if (meter) this.held = [];
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.refusal !== undefined) {
      if (this.refusal.read(chunk)) this.endRefusal();
      return;
    }
    if (this.settled || this.ended) return;
    const { relay, held } = this;
    if (relay) {
      const out = relay.push(chunk, Date.now());
      if (out.length > 0) this.write(controller, out);
      if (relay.overflow) {
        this.failed(`the engine sent an event longer than ${maxEventBytes} bytes`);
        controller.abort(new Error('event too long'));
      } else if (relay.sawDone) {
        this.armDoneTimer();
      }
    } else if (held && this.heldBytes + chunk.length <= maxMeteredBodyBytes) {
      held.push(chunk);
      this.heldBytes += chunk.length;
    } else {
      if (held) {
        // Too large to hold: passed on as it comes. It must at least start as a JSON object.
        if (!startsAsJsonObject(held) || this.options.wantsStream) {
          this.failed(this.options.wantsStream ? jsonToStream : notJsonObject);
          controller.abort(new Error('not usable'));
          return;
        }
        this.writeHead();
        for (const part of held) this.response.write(part);
        this.held = undefined;
        this.tail = new AnswerTail();
      }
      this.tail?.keep(chunk);
      this.write(controller, chunk);
    }
  }

  /** A refusal's body was read long enough: the next instance may be tried now. */
  private readonly endRefusal = (): void => {
    this.refusal?.stop();
    if (this.settled) return;
    this.onResponseEnd();
    this.controller?.abort(new Error('refusal read'));
  };

  /**
   * After `[DONE]`, waits `afterDoneMs` for the response's end. Not while the upstream is paused for a
   * slow client: its end may be read only after the client drains.
   */
  private armDoneTimer(): void {
    if (!this.relay?.sawDone || this.doneTimer !== undefined || this.waitingForDrain || this.ended) return;
    this.doneTimer = setTimeout(this.endAfterDone, afterDoneMs);
  }

  /** The engine sent `[DONE]` and kept its stream open: the answer is complete. */
  private readonly endAfterDone = (): void => {
    if (this.ended || this.settled) return;
    this.onResponseEnd();
    this.controller?.abort(new Error('stream kept open after [DONE]'));
  };

  onResponseEnd(): void {
    if (this.ended) return;
    this.ended = true;
    this.refusal?.stop();
    clearTimeout(this.doneTimer);
    const { status, relay, options } = this;
    if (this.refusal !== undefined) return this.refuse(this.refusal.error());
    const body = this.held ? (this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held)) : undefined;
    const json = body ? parseJsonObject(body.toString('utf8')) : null;
    if (status < 300 && relay?.sawError) {
      return this.failed('the engine reported an error in the middle of the stream');
    }
    if (status < 300 && relay && !relay.sawDone) {
      return this.failed('the engine ended the stream without [DONE]');
    }
    // A JSON answer to a streamed request: the client would read no event from it (the openai client
    // reports an empty answer).
    const unusable =
      status >= 300 || !body
        ? undefined
        : !json
          ? notJsonObject
          : options.wantsStream
            ? jsonToStream
            : undefined;
    if (unusable !== undefined) {
      // Nothing reached the client yet: like a 5xx, another instance may answer (not on the last try).
      if (options.refuseErrorStatus)
        return this.refuse(new UpstreamRefusedError(`the instance answered ${status}: ${unusable}`, status));
      return this.broken(unusable);
    }
    void this.settle(this.answer(true, json))
      .then(({ result, counted }) => {
        const { response } = this;
        if (body) {
          const out = counted && json && result.usage === null ? withUsage(json, counted) : body;
          this.writeHead(out === body ? undefined : out.length);
          response.end(out);
        } else {
          this.writeHead();
          response.end(relay?.finish(counted));
        }
        this.finish(result);
      })
      .catch(this.abandon);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.settled || this.ended) return;
    const code = (error as { code?: unknown }).code;
    if (this.answered) {
      if (this.refusal !== undefined) return this.onResponseEnd(); // a 5xx or 429 cut short: still a refusal
      // Everything came, `[DONE]` included; only the connection's end did not (a reset after the answer).
      if (this.relay?.sawDone && !this.relay.overflow) return this.onResponseEnd();
      return this.failed(
        code === 'UND_ERR_BODY_TIMEOUT'
          ? `the engine sent nothing for ${this.options.idleTimeoutMs} ms and was cut off`
          : 'the engine stopped in the middle of the response',
        error,
      );
    }
    if (!this.resent && !this.clientGone && isConnectionLost(code)) {
      // Nothing of an answer came: a pooled connection the server had closed. Once more, on another one.
      this.resent = true;
      this.controller = undefined;
      upstreamAgent.dispatch(this.dispatch, this);
      return;
    }
    const message =
      code === 'UND_ERR_HEADERS_TIMEOUT'
        ? `the instance sent no answer within ${this.options.firstByteTimeoutMs} ms`
        : isMalformedAnswer(code)
          ? `the instance sent a malformed HTTP answer (${String(code)})`
          : this.resent
            ? `the engine dropped the connection with the request, then was not reachable (${connectionFailure(code)})`
            : `the engine is not reachable (${connectionFailure(code)})`;
    // Sent again after a dropped connection: the first send may have reached the engine (and crashed it).
    const notConnected = !this.resent && isConnectFailure(code);
    this.refuse(new UpstreamRefusedError(message, null, error, undefined, notConnected));
  }

  /**
   * Hands the answer's status and headers to the client's response, once (node:http sends them with the
   * first bytes written). From then on the response's `headersSent` is true and nothing is retried.
   */
  private writeHead(length?: number): void {
    if (this.response.headersSent) return;
    const { replyHeaders, response } = this;
    if (length !== undefined) replyHeaders['content-length'] = String(length);
    // The gateway's own `vary` (CORS: Origin) and the instance's both hold: writeHead would replace it.
    const vary = response.getHeader('vary');
    if (vary !== undefined && replyHeaders['vary'] !== undefined) {
      replyHeaders['vary'] = `${String(vary)}, ${String(replyHeaders['vary'])}`;
    }
    response.writeHead(this.status, replyHeaders);
    // The instance's answer is reaching the client: a breaker's trial has passed.
    if (this.status < 500 && this.status !== 429) this.options.onAnswered?.();
  }

  /**
   * Writes to a client that may read slower than the engine writes: the upstream waits for it (nothing
   * piles up here), and a client that takes nothing for `idleTimeoutMs` is cut off, freeing the engine.
   */
  private write(controller: Dispatcher.DispatchController, bytes: Buffer): void {
    const { response } = this;
    this.writeHead();
    if (response.write(bytes) || this.waitingForDrain || response.destroyed) return;
    this.waitingForDrain = true;
    controller.pause();
    const { idleTimeoutMs } = this.options;
    if (idleTimeoutMs !== undefined) {
      this.stuck = setTimeout(() => response.destroy(), idleTimeoutMs);
      this.stuck.unref();
    }
    response.once('drain', () => {
      clearTimeout(this.stuck);
      this.waitingForDrain = false;
      controller.resume();
      this.armDoneTimer();
    });
  }

  private answer(completed: boolean, json?: Record<string, unknown> | null): MeteredAnswer {
    const { relay, status, tail } = this;
    return {
      status,
      engineFailed: relay?.sawError === true,
      completed,
      usage: relay ? relay.usage : json ? readUsage(json['usage']) : tail ? tail.usage() : null,
      firstTextAtMs: relay?.firstTextAtMs ?? null,
      textChunks: relay?.textChunks ?? 0,
      generatedText: () => (relay ? relay.generatedText() : json ? generatedTextOf(json, 'message') : null),
    };
  }

  private async settle(result: MeteredAnswer) {
    const counted = await this.options.meter?.beforeEnd(result).catch(() => undefined);
    return { result, counted: counted ?? null };
  }

  /**
   * The answer failed after the instance began it. Nothing of it reached the client yet: a refusal, which
   * the caller may retry on another instance (or answer with an error status). Else a broken answer.
   */
  private failed(message: string, cause?: unknown): void {
    if (this.response.headersSent || this.clientGone) return this.broken(message);
    this.refuse(
      new UpstreamRefusedError(`${message}, before any of its answer reached the client`, null, cause),
    );
  }

  /** The answer failed after some of it reached the client: never passed on as a success. */
  private broken(message: string): void {
    if (this.settled) return;
    this.settled = true; // no second verdict while the meter runs
    void this.settle(this.answer(false))
      .then(({ result }) => {
        endBrokenAnswer(this.response, message, {
          isStream: this.isStream,
          engineSentError: this.relay?.sawError === true,
          held: this.held !== undefined,
          writeHead: () => this.writeHead(),
        });
        this.done();
        this.resolve(result);
      })
      .catch(this.abandon);
  }

  /**
   * Writing the answer threw (node:http refused a header): the client's connection is cut, so the answer
   * never passes for a success, and the caller gets the error instead of the process.
   */
  private readonly abandon = (error: unknown): void => {
    this.response.destroy();
    this.settled = true;
    this.done();
    this.reject(error);
  };

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
    clearTimeout(this.doneTimer);
    this.refusal?.stop();
    this.stopWatching();
    this.response.off('close', this.onClientClose);
  }

  private stopWatching(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }
}
