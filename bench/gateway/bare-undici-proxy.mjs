#!/usr/bin/env node
/**
 * The floor of the gateway's own HTTP stack: node:http's server and undici as the upstream client (what
 * FleetGateway forwards with), and nothing else: no parsing, no routing, no metering. Each request's body
 * is read whole (the gateway reads it to route), sent with `Agent.stream`, and the answer is written into
 * the response as it arrives.
 *
 *   node bench/gateway/bare-undici-proxy.mjs --upstream http://127.0.0.1:PORT [--port 0]
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';
import { serve } from './serve.mjs';

const { values: flags } = parseArgs({
  options: { port: { type: 'string', default: '0' }, upstream: { type: 'string' } },
  strict: true,
});
const origin = new URL(flags.upstream).origin;
const agent = new Agent({ keepAliveTimeout: 30_000 });
const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host']);

const endToEnd = (headers) => {
  const out = {};
  for (const [name, value] of Object.entries(headers)) if (!hopByHop.has(name)) out[name] = value;
  return out;
};

const server = createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    agent.stream(
      {
        origin,
        path: request.url,
        method: request.method,
        headers: endToEnd(request.headers),
        body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
      },
      ({ statusCode, headers }) => {
        response.writeHead(statusCode, endToEnd(headers));
        return response;
      },
      (error) => {
        if (!error) return;
        if (!response.headersSent) response.writeHead(502).end();
        else response.destroy();
      },
    );
  });
});
serve(server, Number(flags.port));
