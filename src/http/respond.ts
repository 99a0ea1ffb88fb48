import type { IncomingMessage, ServerResponse } from 'node:http';
import { EdgeFleetError, methodNotAllowed, toOpenAiError } from '../spec/edgefleet-error.js';

/** Sends a JSON body with the given status. */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  response.end(payload);
}

/** Refuses (405) a method other than GET or HEAD on a read-only path such as `/health` or `/metrics`. */
export function onlyRead(request: IncomingMessage, path: string): void {
  const method = request.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, path, ['GET', 'HEAD']);
}

/**
 * The one place an error becomes an HTTP response: OpenAI's error shape with the code's status,
 * `retry-after` (whole seconds) when the error carries `data.retryAfterS`, and `allow` when it carries
 * `data.allow` (a 405). An error answered before the request's body was read whole (a body over the
 * limit, a refused key) closes the connection after the answer, so the client's remaining body is not
 * read and thrown away first (which held the connection for up to the request timeout).
 */
export function sendError(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const { status, body } = toOpenAiError(error);
  const headers: Record<string, string> = {};
  if (error instanceof EdgeFleetError) {
    const { retryAfterS, allow } = error.data;
    if (typeof retryAfterS === 'number' && Number.isFinite(retryAfterS) && retryAfterS >= 0) {
      headers['retry-after'] = String(Math.ceil(retryAfterS));
    }
    if (typeof allow === 'string') headers['allow'] = allow;
  }
  if (response.req !== undefined && bodyUnread(response.req)) response.shouldKeepAlive = false;
  sendJson(response, status, body, headers);
}

/** Whether some of the request's body has not arrived yet (a request without a body has none to come). */
function bodyUnread(request: IncomingMessage): boolean {
  if (request.complete) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
