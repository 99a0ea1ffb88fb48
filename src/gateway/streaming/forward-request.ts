/**
 * Forwards one buffered request to an instance over undici's connection pools (upstream-pool.ts) and
 * relays the answer (forward-attempt.ts). undici's low-level `dispatch` is used rather than node:http's
 * client: it costs about a third less CPU per request, which is most of a gateway's work.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { resolveTarget } from '../../http/request-target.js';
import { ForwardAttempt } from './forward-attempt.js';
import type { ForwardOptions, ForwardResult } from './forward-types.js';
import { endToEndRequestHeaders, upstreamTarget } from './upstream-pool.js';

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
  // The client's EdgeFleet key stays here; an upstream that needs one gets its own.
  const headers = endToEndRequestHeaders(request.rawHeaders);
  // Answers must come uncompressed: the gateway reads their usage and checks their shape.
  headers.push('accept-encoding', 'identity');
  if (options.upstreamApiKey !== undefined) headers.push('authorization', `Bearer ${options.upstreamApiKey}`);
  const { origin, basePath } = upstreamTarget(upstreamBaseUrl);
  const dispatch: Dispatcher.DispatchOptions = {
    origin,
    // Only the path and query of the client's request target are used, under the instance's own path
    // prefix: the host is always the instance's, whatever the target says (`POST http://elsewhere/…`).
    path: basePath + resolveTarget(request.url).pathAndQuery,
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
