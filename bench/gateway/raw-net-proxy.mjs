#!/usr/bin/env node
/**
 * Diagnostic, not a product: how cheap can a proxy hop be in Node.js at all? HTTP/1.1 spoken by hand on
 * node:net sockets in both directions, with no HTTP library: requests framed by their headers and
 * `content-length`, answers by `content-length` or chunked framing (relayed byte for byte), keep-alive
 * pools to the upstream, one request per connection at a time. It measures what replacing node:http and
 * undici could buy the gateway (docs/benchmarks.md, "A leaner HTTP stack?"). It trusts both peers, which a
 * gateway must not: no limits on header size, no validation, no timeouts.
 *
 * With `--server http` the client side is node:http's server (as in the gateway) and only the upstream
 * side is by hand: what replacing undici alone could buy.
 *
 *   node bench/gateway/raw-net-proxy.mjs --upstream http://127.0.0.1:PORT [--port 0] [--server net|http]
 */
import { createServer } from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { serve } from './serve.mjs';

const { values: flags } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    upstream: { type: 'string' },
    server: { type: 'string', default: 'net' },
  },
  strict: true,
});
const upstream = new URL(flags.upstream);
const headEnd = Buffer.from('\r\n\r\n');
const idle = [];

/** The value of header `name` (lower case) in a head, or undefined. */
function header(head, name) {
  const at = head.toLowerCase().indexOf(`\r\n${name}:`);
  if (at < 0) return undefined;
  const end = head.indexOf('\r\n', at + 2);
  return head.slice(at + name.length + 3, end).trim();
}

/** The bytes a socket delivered and not yet consumed; `onData` runs after each arrival. */
class Reader {
  buffer = Buffer.alloc(0);
  constructor(socket, onData) {
    socket.on('data', (chunk) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      onData();
    });
  }
  take(n) {
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }
}

/**
 * One upstream connection: sends a request and hands its answer to `conn.to` (`head`, `part` of the body
 * with `framing` true for chunked framing, `end`), then goes back to the pool.
 */
function upstreamConnection() {
  const socket = net.connect(Number(upstream.port), upstream.hostname);
  socket.setNoDelay(true);
  const conn = { socket, to: undefined, state: 'head', left: 0 };
  const relay = (n, framing) => {
    const part = reader.take(Math.min(n, reader.buffer.length));
    conn.left = n - part.length;
    conn.to.part(part, framing);
    return conn.left === 0;
  };
  const reader = new Reader(socket, () => {
    while (reader.buffer.length > 0) {
      const { buffer } = reader;
      switch (conn.state) {
        case 'head': {
          const end = buffer.indexOf(headEnd);
          if (end < 0) return;
          const head = reader.take(end + 4).toString('latin1');
          const chunked = /chunked/i.test(header(head, 'transfer-encoding') ?? '');
          conn.left = chunked ? 0 : Number(header(head, 'content-length') ?? 0);
          conn.to.head(head);
          conn.state = chunked ? 'size' : 'body';
          if (!chunked && conn.left === 0) return finish();
          break;
        }
        case 'body':
          if (relay(conn.left, false)) return finish();
          break;
        case 'size': {
          // chunked: a size line, that many bytes, CRLF; a size of 0 and CRLF end the answer
          const end = buffer.indexOf('\r\n');
          if (end < 0) return;
          const size = parseInt(buffer.subarray(0, end).toString('latin1'), 16);
          conn.to.part(reader.take(end + 2), true);
          conn.state = size === 0 ? 'last' : 'data';
          conn.left = size === 0 ? 2 : size;
          break;
        }
        case 'data':
          if (relay(conn.left, false)) [conn.state, conn.left] = ['crlf', 2];
          break;
        case 'crlf':
          if (relay(conn.left, true)) conn.state = 'size';
          break;
        case 'last':
          if (relay(conn.left, true)) return finish();
          break;
      }
    }
  });
  const finish = () => {
    conn.state = 'head';
    const { to } = conn;
    conn.to = undefined;
    idle.push(conn);
    to.end();
  };
  socket.on('error', () => conn.to?.fail());
  socket.on('close', () => {
    conn.to?.fail();
    const at = idle.indexOf(conn);
    if (at >= 0) idle.splice(at, 1);
  });
  return conn;
}

/** Sends a request (head and body as they are to go upstream) on a pooled connection; answers go to `to`. */
function send(head, body, to) {
  const conn = idle.pop() ?? upstreamConnection();
  conn.to = to;
  conn.socket.cork();
  conn.socket.write(head);
  conn.socket.write(body);
  conn.socket.uncork();
}

/** HTTP/1.1 by hand on the client side too: the request's head is sent upstream as it came. */
const rawServer = () =>
  net.createServer((client) => {
    client.setNoDelay(true);
    let busy = false;
    const reader = new Reader(client, () => next());
    const to = {
      head: (head) => client.write(head),
      part: (part) => client.write(part),
      end: () => {
        busy = false;
        next();
      },
      fail: () => client.destroy(),
    };
    const next = () => {
      if (busy) return;
      const end = reader.buffer.indexOf(headEnd);
      if (end < 0) return;
      const head = reader.buffer.subarray(0, end + 4).toString('latin1');
      const length = Number(header(head, 'content-length') ?? 0);
      if (reader.buffer.length < end + 4 + length) return;
      reader.take(end + 4);
      busy = true;
      send(head, reader.take(length), to);
    };
    client.on('error', () => undefined);
  });

/** node:http's server towards the client, the hand-written client upstream. */
const httpServer = () =>
  createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      let head = `${request.method} ${request.url} HTTP/1.1\r\nhost: ${upstream.host}\r\n`;
      const raw = request.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i].toLowerCase();
        if (name !== 'host' && name !== 'connection' && name !== 'content-length')
          head += `${raw[i]}: ${raw[i + 1]}\r\n`;
      }
      head += `content-length: ${body.length}\r\n\r\n`;
      send(head, body, {
        head: (text) => {
          const lines = text.split('\r\n');
          const headers = [];
          for (let i = 1; i < lines.length; i += 1) {
            const colon = lines[i].indexOf(':');
            if (colon < 0) continue;
            const name = lines[i].slice(0, colon);
            const lower = name.toLowerCase();
            if (lower === 'connection' || lower === 'keep-alive' || lower === 'transfer-encoding') continue;
            headers.push(name, lines[i].slice(colon + 1).trim());
          }
          response.writeHead(Number(lines[0].slice(9, 12)), headers);
        },
        part: (part, framing) => framing || response.write(part),
        end: () => response.end(),
        fail: () => response.destroy(),
      });
    });
  });

serve(flags.server === 'http' ? httpServer() : rawServer(), Number(flags.port));
