import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny OpenAI-compatible server on 127.0.0.1 that requires `Authorization: Bearer <apiKey>`: it
 * stands for a server some team already runs (a hand-started vLLM) registered as an external endpoint.
 */
export interface OpenAiUpstream {
  url: string;
  /** The bearer headers it received, in order. */
  authorizations: (string | undefined)[];
  close(): Promise<void>;
}

/** `metricsText`: what `GET /metrics` answers (404 without it), like an engine's Prometheus page. */
export async function startOpenAiUpstream(
  apiKey: string,
  model: string,
  metricsText?: string,
): Promise<OpenAiUpstream> {
  const authorizations: (string | undefined)[] = [];
  const server: Server = createServer((request, response) => {
    authorizations.push(request.headers.authorization);
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.headers.authorization !== `Bearer ${apiKey}`) {
      return send(401, {
        error: { message: 'bad key', type: 'authentication_error', code: 'invalid_api_key' },
      });
    }
    if (request.method === 'GET' && request.url === '/metrics' && metricsText !== undefined) {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      return response.end(metricsText);
    }
    if (request.method === 'GET' && request.url === '/v1/models') {
      return send(200, { object: 'list', data: [{ id: model, object: 'model', owned_by: 'team' }] });
    }
    return send(404, { error: { message: 'not found', type: 'invalid_request_error' } });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
