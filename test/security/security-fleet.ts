/**
 * Helpers of the security suite: a control plane (`edgefleet server`) and a room gateway
 * (`edgefleet gateway`) as real processes on 127.0.0.1 over HTTP or HTTPS, raw requests that may carry
 * any method, header or request target, an OpenAI-compatible upstream registered as an external
 * endpoint, and a trap listener that counts every connection it gets.
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import {
  request as plainRequest,
  createServer as createHttp,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { request as tlsRequest, createServer as createHttps } from 'node:https';
import { createServer as createTcp, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../helpers/edgefleet-process.js';
import { startCli, stopTree, waitForOutput, type FleetProcess } from '../fleet/fleet-processes.js';

export interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: Record<string, unknown> | undefined;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** CA certificates for https URLs. */
  ca?: string;
  /** The name an https server's certificate is checked against (default: the URL's host). */
  servername?: string;
  /** Sent as the request target instead of the URL's path (absolute form, `//host/…`). */
  target?: string;
}

/** One request with node:http(s): any method, header and request target; never throws on a status. */
export function send(url: string, options: SendOptions = {}): Promise<Answer> {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const request = (secure ? tlsRequest : plainRequest)(
      {
        host: parsed.hostname,
        port: parsed.port,
        method: options.method ?? 'GET',
        path: options.target ?? `${parsed.pathname}${parsed.search}`,
        headers: {
          ...(options.body !== undefined && { 'content-type': 'application/json' }),
          ...options.headers,
        },
        agent: false,
        ...(options.ca !== undefined && { ca: options.ca }),
        ...(options.servername !== undefined && { servername: options.servername }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
        });
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** The `error.code` of an OpenAI-shaped error body. */
export function errorCode(answer: Answer): string | undefined {
  return (answer.json?.['error'] as { code?: string } | undefined)?.code;
}

/** Temporary directories and processes of one test file, removed and stopped (by PID) at the end. */
export class Fleet {
  readonly processes: FleetProcess[] = [];
  private readonly dirs: string[] = [];
  private readonly closers: (() => Promise<void>)[] = [];

  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  onClose(closer: () => Promise<void>): void {
    this.closers.push(closer);
  }

  /** Starts `edgefleet ARGS` and waits for `pattern` (its first group: the URL) in its output. */
  async start(args: string[], pattern: RegExp, what: string, env?: Record<string, string>) {
    const proc = startCli(args, { ...(env && { env }) });
    this.processes.push(proc);
    const url = await waitForOutput(proc, pattern, what);
    return { proc, url };
  }

  /** `edgefleet server` on a free port; its URL (http or https) and admin key. */
  async server(extra: string[] = [], env?: Record<string, string>) {
    const home = await this.tempDir('ef-sec-server-');
    const args = ['server', '--home', home, '--port', '0', '--reconcile-ms', '200', ...extra];
    const pattern = /control plane listening on (https?:\/\/\S+)/;
    const { proc, url } = await this.start(args, pattern, 'the server', env);
    const adminKey = (await readFile(join(home, 'admin-key'), 'utf8')).trim();
    const joinToken = (await readFile(join(home, 'join-token'), 'utf8')).trim();
    return { proc, url, home, adminKey, joinToken };
  }

  /** `edgefleet gateway` for `site` on a free port. */
  async gateway(serverUrl: string, adminKey: string, site: string, extra: string[] = []) {
    const home = await this.tempDir('ef-sec-gateway-');
    const args = ['gateway', '--server', serverUrl, '--site', site, '--home', home, '--port', '0'];
    const pattern = new RegExp(`gateway for site ${site} listening on (https?:\\/\\/\\S+)`);
    return this.start([...args, '--api-key', adminKey, ...extra], pattern, 'the room gateway');
  }

  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => stopTree(p, 5000)));
    for (const closer of this.closers) await closer().catch(() => undefined);
    await Promise.all(this.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

/** Calls the management API with a bearer secret and a JSON body. */
export function api(
  baseUrl: string,
  secret: string,
  method: string,
  path: string,
  body?: unknown,
  ca?: string,
) {
  return send(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${secret}` },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    ...(ca !== undefined && { ca }),
  });
}

/** A worker's register body (no devices: the control plane adds the CPU). */
export function registerBody(joinToken: string, name: string, site = 'sec') {
  return {
    joinToken,
    name,
    site,
    address: '127.0.0.1',
    devices: [],
    cpu: { cores: 2, memoryBytes: 2 ** 31 },
  };
}

export interface Upstream {
  url: string;
  /** Request lines it received (`POST /v1/chat/completions`). */
  seen: string[];
  close(): Promise<void>;
}

export interface UpstreamOptions {
  /** Serve HTTPS with this PEM certificate and key. */
  tls?: { cert: string; key: string };
  /** Serve under this path prefix (`/team-a`): anything outside it is a 404. */
  prefix?: string;
}

/** An OpenAI-compatible server on 127.0.0.1: `/v1/models` and a fixed chat answer naming `name`. */
export async function startUpstream(name: string, options: UpstreamOptions = {}): Promise<Upstream> {
  const seen: string[] = [];
  const prefix = options.prefix ?? '';
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    seen.push(`${request.method} ${request.url}`);
    request.resume();
    request.on('end', () => {
      const json = (status: number, body: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      const path = request.url?.startsWith(`${prefix}/`) ? request.url.slice(prefix.length) : undefined;
      if (path === undefined) {
        return json(404, { error: { message: 'no route', type: 'invalid_request_error' } });
      }
      if (request.method === 'GET') {
        return json(200, { object: 'list', data: [{ id: 'any', object: 'model', owned_by: name }] });
      }
      if (path.startsWith('/v1/chat/completions')) {
        return json(200, {
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 1,
          model: 'any',
          choices: [
            { index: 0, message: { role: 'assistant', content: `from ${name}` }, finish_reason: 'stop' },
          ],
          usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
        });
      }
      return json(404, { error: { message: 'no route', type: 'invalid_request_error' } });
    });
  };
  const server = options.tls ? createHttps(options.tls, handler) : createHttp(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const scheme = options.tls ? 'https' : 'http';
  return {
    url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface Trap {
  port: number;
  /** Connections it accepted. */
  connections: () => number;
  close(): Promise<void>;
}

/** A TCP listener on 127.0.0.1 that no EdgeFleet component should ever connect to. */
export async function startTrap(): Promise<Trap> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createTcp((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Registers `upstream` as an external endpoint serving `model` and waits until the prober finds it healthy. */
export async function addEndpoint(baseUrl: string, adminKey: string, model: string, upstreamUrl: string) {
  const created = await api(baseUrl, adminKey, 'POST', '/api/v1/endpoints', {
    model,
    url: upstreamUrl,
    site: 'sec',
  });
  if (created.status !== 201) throw new Error(`endpoint not created: ${created.status} ${created.text}`);
  const id = created.json?.['id'] as string;
  await waitFor(
    async () => {
      const view = await api(baseUrl, adminKey, 'GET', `/api/v1/endpoints/${id}`);
      return view.json?.['health'] === 'healthy' ? true : undefined;
    },
    20_000,
    `endpoint ${model} healthy`,
  );
}
