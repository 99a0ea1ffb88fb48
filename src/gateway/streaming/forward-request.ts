import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { EdgeFleetError, toOpenAiError } from '../spec/edgefleet-error.js';

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

export interface ForwardResult {
  status: number;
  /** True when the upstream ended its response normally. */
  completed: boolean;
}

/**
 * Sends one buffered request to an upstream and streams the answer back. Failures before the first
 * byte reject with a retryable `engine_unavailable`, so the caller may try again elsewhere; a failure
 * after it ends an event stream with an error event (never `[DONE]`) and cuts any other body. A client
 * that goes away aborts the upstream request at once.
 */
export function forwardRequest(
  client: { request: IncomingMessage; response: ServerResponse },
  upstreamBaseUrl: string,
  body: Buffer,
  extraHeaders: Record<string, string> = {},
): Promise<ForwardResult> {
  const { request, response } = client;
  const target = new URL(request.url ?? '/', upstreamBaseUrl);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && !hopByHop.has(name)) headers[name] = value;
  }
  headers['content-length'] = String(body.length);

  return new Promise<ForwardResult>((resolve, reject) => {
    let answered = false;
    const upstream = httpRequest(target, { method: request.method, headers, agent }, (reply) => {
      answered = true;
      const replyHeaders: Record<string, string | string[]> = { ...extraHeaders };
      for (const [name, value] of Object.entries(reply.headers)) {
        if (value !== undefined && (!hopByHop.has(name) || name === 'content-length'))
          replyHeaders[name] = value;
      }
      response.writeHead(reply.statusCode ?? 502, replyHeaders);
      response.flushHeaders();
      const isStream = String(reply.headers['content-type'] ?? '').startsWith('text/event-stream');
      let ended = false;
      reply.on('data', (chunk: Buffer) => response.write(chunk));
      reply.on('end', () => {
        ended = true;
        response.end();
        resolve({ status: reply.statusCode ?? 502, completed: true });
      });
      reply.on('close', () => {
        if (ended) return;
        if (isStream && !response.destroyed) {
          const { body: errorBody } = toOpenAiError(
            new EdgeFleetError('engine_error', 'the engine stopped in the middle of the response'),
          );
          response.end(`data: ${JSON.stringify(errorBody)}\n\n`);
        } else {
          response.destroy();
        }
        resolve({ status: reply.statusCode ?? 502, completed: false });
      });
    });
    upstream.on('error', (error) => {
      if (answered) return;
      reject(
        new EdgeFleetError('engine_unavailable', `the engine is not reachable: ${error.message}`, {
          cause: error,
        }),
      );
    });
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  });
}
