/**
 * A keep-alive connection the server had already closed: the request went out on a pooled socket (Node's
 * `reusedSocket`) and the server reset it before any answer. llama-server does this after every streamed
 * answer (it closes the connection without saying `Connection: close`), so a request sent right after one
 * meets the reset. The server never read the request, so sending it once more on a fresh connection is
 * safe; Node's documentation recommends exactly that.
 */
import type { ClientRequest } from 'node:http';

/** The error codes of a connection the peer reset or closed under a request. */
export function isConnectionResetCode(code: unknown): boolean {
  return code === 'ECONNRESET' || code === 'EPIPE';
}

export function isStaleConnectionReset(request: ClientRequest, error: unknown): boolean {
  return request.reusedSocket && isConnectionResetCode((error as { code?: unknown } | null)?.code);
}
