#!/usr/bin/env node
/**
 * The baseline for scale: a bare Node.js reverse proxy with no features (no parsing, no routing, no
 * metering): each request piped to the upstream over a keep-alive agent, the answer piped back.
 *
 *   node bench/gateway/bare-proxy.mjs --upstream http://127.0.0.1:PORT [--port 0]
 */
import { Agent, createServer, request as httpRequest } from 'node:http';
import { parseArgs } from 'node:util';
import { serve } from './serve.mjs';

const { values: flags } = parseArgs({
  options: { port: { type: 'string', default: '0' }, upstream: { type: 'string' } },
  strict: true,
});
const upstream = new URL(flags.upstream);
const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

const server = createServer((request, response) => {
  const headers = { ...request.headers };
  delete headers.connection;
  delete headers.host;
  const forward = httpRequest(
    {
      host: upstream.hostname,
      port: upstream.port,
      path: request.url,
      method: request.method,
      headers,
      agent,
    },
    (reply) => {
      const replyHeaders = { ...reply.headers };
      delete replyHeaders.connection;
      delete replyHeaders['keep-alive'];
      delete replyHeaders['transfer-encoding'];
      response.writeHead(reply.statusCode ?? 502, replyHeaders);
      reply.pipe(response);
    },
  );
  forward.on('error', () => {
    if (!response.headersSent) response.writeHead(502);
    response.end();
  });
  response.on('close', () => {
    if (!response.writableFinished) forward.destroy();
  });
  request.pipe(forward);
});
serve(server, Number(flags.port));
