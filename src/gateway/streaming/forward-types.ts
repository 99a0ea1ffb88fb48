/**
 * What forwarding one request to an instance takes and gives: its options, the answer the gateway meters,
 * and the error of an instance that refused before anything reached the client.
 */
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { TokenUsage } from './sse-usage-relay.js';

/**
 * The upstream could not take the request and nothing was sent to the client yet: it was unreachable,
 * or (when the caller allowed it) it answered 5xx or 429, or it refused the gateway's credentials
 * (401/403: 502 to the client). The caller may try another instance.
 */
export class UpstreamRefusedError extends EdgeFleetError {
  constructor(
    message: string,
    readonly upstreamStatus: number | null,
    cause?: unknown,
    /** The instance's `retry-after` (seconds), passed on when this refusal reaches the client. */
    retryAfterS?: number,
    /** No connection could be made: nothing of the request reached the instance. */
    readonly notConnected = false,
  ) {
    super(
      upstreamStatus === 429
        ? 'server_busy'
        : upstreamStatus === 501
          ? 'not_implemented'
          : upstreamStatus !== null &&
              (upstreamStatus < 300 || upstreamStatus === 401 || upstreamStatus === 403)
            ? 'engine_error' // it answered, but not usably (not JSON, not a stream) or refused the gateway
            : 'engine_unavailable',
      message,
      { cause, ...(retryAfterS !== undefined && { data: { retryAfterS } }) },
    );
  }
}

/** What the gateway meters from one forwarded answer. */
export interface MeteredAnswer {
  status: number;
  /** The engine reported a failure in its answer (an error event): broken, even if the client left after it. */
  engineFailed: boolean;
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
  /** The client asked for a stream: a 2xx JSON answer is then an engine's failure, not an answer. */
  wantsStream?: boolean;
  /** Called once when the instance answers with a status that is not a refusal (a breaker's trial passed). */
  onAnswered?: () => void;
  /** Cut an answer that sends nothing for this long (a stream then ends with an error event). */
  idleTimeoutMs?: number;
  /** Sent upstream as `Authorization: Bearer …` (an external endpoint's key); the client's own credential never is. */
  upstreamApiKey?: string;
}

export type ForwardResult = MeteredAnswer;
