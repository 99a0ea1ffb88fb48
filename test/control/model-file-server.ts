/**
 * A local HTTP server on 127.0.0.1 that serves one model file the ways real hosts do, for the control
 * plane's remote GGUF header reader:
 *   /ranged/<name>          honours Range (206 + Content-Range); every Range header is recorded
 *   /plain/<name>           ignores Range: 200 with the file, padded with zeros to `plainSizeBytes`,
 *                           streamed with backpressure; the bytes it managed to send are counted
 *   /hf/<user>/<repo>/resolve/<rev>/<name>  like /ranged, but 401 without `Bearer <hfToken>`
 *   /page.html              an HTML page (not GGUF); anything else 404
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ModelFileServer {
  baseUrl: string;
  ranges: string[];
  hfAuthorizations: (string | undefined)[];
  plain: { bytesSent: number; closed: Promise<void> | undefined };
  close(): Promise<void>;
}

function serveRanged(file: Buffer, request: IncomingMessage, response: ServerResponse, ranges: string[]) {
  const range = request.headers.range;
  ranges.push(range ?? '(none)');
  const match = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
  if (!match) {
    response.writeHead(200, { 'content-length': file.length, 'accept-ranges': 'bytes' });
    response.end(file);
    return;
  }
  const start = Number(match[1]);
  const end = Math.min(match[2] ? Number(match[2]) : file.length - 1, file.length - 1);
  if (start >= file.length) {
    response.writeHead(416, { 'content-range': `bytes */${file.length}` });
    response.end();
    return;
  }
  response.writeHead(206, {
    'content-range': `bytes ${start}-${end}/${file.length}`,
    'content-length': end - start + 1,
  });
  response.end(file.subarray(start, end + 1));
}

async function servePlain(
  file: Buffer,
  sizeBytes: number,
  response: ServerResponse,
  state: ModelFileServer['plain'],
) {
  response.writeHead(200, { 'content-length': sizeBytes });
  const zeros = Buffer.alloc(64 * 1024);
  let closed = false;
  state.closed = once(response, 'close').then(() => {
    closed = true;
  });
  let sent = 0;
  while (sent < sizeBytes && !closed) {
    const chunk = sent < file.length ? file.subarray(sent, sent + zeros.length) : zeros;
    const piece = chunk.subarray(0, Math.min(chunk.length, sizeBytes - sent));
    sent += piece.length;
    state.bytesSent = sent;
    if (!response.write(piece)) await Promise.race([once(response, 'drain'), state.closed]);
  }
  response.end();
}

export async function startModelFileServer(
  modelPath: string,
  options: { hfToken: string; plainSizeBytes: number },
): Promise<ModelFileServer> {
  const file = await readFile(modelPath);
  const ranges: string[] = [];
  const hfAuthorizations: (string | undefined)[] = [];
  const plain: ModelFileServer['plain'] = { bytesSent: 0, closed: undefined };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    if (path.startsWith('/ranged/')) return serveRanged(file, request, response, ranges);
    if (path.startsWith('/plain/')) return void servePlain(file, options.plainSizeBytes, response, plain);
    if (/^\/hf\/[^/]+\/[^/]+\/resolve\/main\/.+\.gguf$/.test(path)) {
      hfAuthorizations.push(request.headers.authorization);
      if (request.headers.authorization !== `Bearer ${options.hfToken}`) {
        response.writeHead(401).end('unauthorized');
        return;
      }
      return serveRanged(file, request, response, ranges);
    }
    if (path === '/page.html') {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html>hello</html>');
      return;
    }
    response.writeHead(404).end('not found');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ranges,
    hfAuthorizations,
    plain,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
