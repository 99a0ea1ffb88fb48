/**
 * Answers requests that node:http's parser rejects (bad request lines, header injection, conflicting
 * lengths, bad chunking, headers over the limit, a client too slow to send its headers) in the same
 * OpenAI error shape as every other error, instead of Node's bare `400 Bad Request`, and closes the
 * connection. A connection that is already gone or half-answered is just destroyed.
 */
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { EdgeFleetError, toOpenAiError } from '../spec/edgefleet-error.js';
import type { ErrorCode } from '../spec/error-codes.js';

function codeOf(error: NodeJS.ErrnoException): ErrorCode {
  if (error.code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code === 'HPE_HEADERS_TIMEOUT')
    return 'request_timeout';
  return 'malformed_http';
}

/** The raw HTTP/1.1 response for a parser error (exported for tests). */
export function clientErrorResponse(error: NodeJS.ErrnoException): string {
  const code = codeOf(error);
  const why = error.code ? ` (${error.code})` : '';
  const message =
    code === 'headers_too_large'
      ? 'the request headers are too large'
      : error.code === 'HPE_HEADERS_TIMEOUT'
        ? 'the request headers did not arrive in time'
        : code === 'request_timeout'
          ? 'the request (headers and body) did not arrive in time'
          : `malformed HTTP request${why}`;
  const { status, body } = toOpenAiError(new EdgeFleetError(code, message));
  const payload = JSON.stringify(body);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'content-type: application/json\r\n' +
    `content-length: ${Buffer.byteLength(payload)}\r\n` +
    'connection: close\r\n\r\n' +
    payload
  );
}

/** Installs the handler on `server`. */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(clientErrorResponse(error));
  });
}
