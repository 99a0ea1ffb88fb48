import type { ServerResponse } from 'node:http';
import { EdgeFleetError, toOpenAiError } from '../spec/edgefleet-error.js';

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

/**
 * The one place an error becomes an HTTP response: OpenAI's error shape with the code's status, and
 * `retry-after` (whole seconds) when the error carries `data.retryAfterS`.
 */
export function sendError(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const { status, body } = toOpenAiError(error);
  const retryAfterS = error instanceof EdgeFleetError ? error.data['retryAfterS'] : undefined;
  const headers: Record<string, string> =
    typeof retryAfterS === 'number' && Number.isFinite(retryAfterS) && retryAfterS >= 0
      ? { 'retry-after': String(Math.ceil(retryAfterS)) }
      : {};
  sendJson(response, status, body, headers);
}
