/**
 * The one way EdgeFleet's long-running servers (control plane, per-room gateway) listen: node:http, or
 * node:https when a certificate and key are given, with limits on slow clients. A client must send its
 * request headers within `headersTimeoutMs` and its whole request (headers and body) within
 * `requestTimeoutMs`, else it gets 408 and the connection is closed (see client-errors.ts); the limits
 * are checked every second. A client that sends `Expect: 100-continue` gets the 100 only when its body is
 * read (expect-continue.ts). Answers (long generations, streams) are not bounded here. Every request's
 * target is put in origin form first (request-target.ts), so no handler can be steered to another host.
 */
import {
  createServer as createPlainServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { deferContinue } from './expect-continue.js';
import { originFormTarget } from './request-target.js';
import { sendError } from './respond.js';
import type { ServerTls } from './tls-options.js';

export const serverTimeouts = {
  /** Request line and headers (slowloris). Node's default is 60 s. */
  headersTimeoutMs: 10_000,
  /** The whole request, body included (8 MiB at 1 Mbit/s takes ~70 s). Node's default is 300 s. */
  requestTimeoutMs: 120_000,
  /** How often the two limits above are checked. Node's default is 30 s. */
  checkIntervalMs: 1000,
  /**
   * How long an idle keep-alive connection stays open. Node's default, 5 s, is shorter than the idle
   * time of most client pools, which then send on a connection the server is closing and get ECONNRESET
   * (seen in the soak run); 65 s outlasts them, as load balancers' 60 s does.
   */
  keepAliveTimeoutMs: 65_000,
} as const;

/** The URL of a server created here listening on `host` (an IPv6 literal gets brackets) and `port`. */
export function listeningUrl(host: string, port: number, tls: boolean): string {
  return `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** An HTTP server, or an HTTPS one with `tls`; not listening yet. */
export function createHttpServer(handler: RequestListener, tls?: ServerTls): Server {
  const listener: RequestListener = (request, response) => {
    const target = originFormTarget(request.url);
    if (target === undefined) {
      response.shouldKeepAlive = false;
      request.resume();
      sendError(response, new EdgeFleetError('malformed_http', 'the request target must be a path (/…)'));
      return;
    }
    request.url = target;
    handler(request, response);
  };
  const options = {
    headersTimeout: serverTimeouts.headersTimeoutMs,
    requestTimeout: serverTimeouts.requestTimeoutMs,
    connectionsCheckingInterval: serverTimeouts.checkIntervalMs,
  };
  // An https.Server is an http.Server with a TLS handshake in front (the same events and methods).
  const server = tls
    ? (createTlsServer({ ...options, cert: tls.cert, key: tls.key }, listener) as unknown as Server)
    : createPlainServer(options, listener);
  server.keepAliveTimeout = serverTimeouts.keepAliveTimeoutMs;
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    deferContinue(request, response);
    listener(request, response);
  });
  return server;
}
