/**
 * The gateway's connections to instances: undici keep-alive pools (one per instance origin, one request
 * per connection at a time), and what a proxy hop must not pass on.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Agent } from 'undici';
import { isConnectionResetCode } from '../../http/stale-connection.js';

/** An instance that accepts no connection within this long is unreachable (the caller may try another). */
const connectTimeoutMs = 3000;

/** Keep-alive pools per instance origin, shared by every gateway in the process. */
export const upstreamAgent = new Agent({ connect: { timeout: connectTimeoutMs }, pipelining: 1 });

/** A connection that closed or reset before any answer (a keep-alive connection the server had closed). */
export function isConnectionLost(code: unknown): boolean {
  return isConnectionResetCode(code) || code === 'UND_ERR_SOCKET';
}

/** A connection that could not be made: nothing of the request reached the instance. */
export function isConnectFailure(code: unknown): boolean {
  return (
    code === 'ECONNREFUSED' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN'
  );
}

/**
 * What a failed connection to an instance was, in words and without its address: clients see this in
 * the 503 (the gateway's log has the whole error, with the instance).
 */
export function connectionFailure(code: unknown): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return 'connection closed';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not resolved';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return typeof code === 'string' ? code : 'connection failed';
  }
}

/** Not passed on in either direction (hop-by-hop, or set by the client library for the new hop). */
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
  'expect',
  // The gateway asks instances for `identity` (forward-request.ts): it reads every answer.
  'accept-encoding',
  // CORS ends at the gateway (src/http/cors.ts): an instance that checks `Origin` must not refuse a page
  // the gateway allows, and its `access-control-*` answer headers are not relayed (copyEndToEndHeaders).
  'origin',
]);

/**
 * Copies the end-to-end headers of an instance's answer `from` into `into` (with `keep`: that hop-by-hop one
 * too), without its CORS headers: which pages may read the answer is the gateway's to say.
 */
export function copyEndToEndHeaders(
  from: IncomingHttpHeaders,
  into: Record<string, string | string[]>,
  keep?: string,
): Record<string, string | string[]> {
  for (const name in from) {
    const value = from[name];
    if (value === undefined || (hopByHop.has(name) && name !== keep)) continue;
    if (name.charCodeAt(0) === 97 && name.startsWith('access-control-')) continue;
    into[name] = value;
  }
  return into;
}

/**
 * The end-to-end headers of a client's request as a flat `[name, value, …]` list (node's `rawHeaders`,
 * names as the client spelled them, repeated headers kept), without its `authorization`: the client's
 * EdgeFleet key stays in the gateway.
 */
export function endToEndRequestHeaders(rawHeaders: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (!hopByHop.has(lower) && lower !== 'authorization') out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}

/** Where an instance's base URL points: `scheme://host:port`, and a path prefix ('' for none). */
export interface UpstreamTarget {
  origin: string;
  basePath: string;
}

const targets = new Map<string, UpstreamTarget>();

/**
 * The origin and path prefix of an instance's base URL (cached: the same few URLs come with every
 * request). Worker instances have none; an external endpoint may sit under a prefix
 * (`http://10.0.0.5/team-a`), which every request to it keeps.
 */
export function upstreamTarget(baseUrl: string): UpstreamTarget {
  let target = targets.get(baseUrl);
  if (target === undefined) {
    const url = new URL(baseUrl);
    target = { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
    if (targets.size >= 4096) targets.clear();
    targets.set(baseUrl, target);
  }
  return target;
}

/** The URL of `path` (absolute: `/health`, `/v1/models`) on the instance at `baseUrl`, under its prefix. */
export function upstreamUrl(baseUrl: string, path: string): URL {
  const { origin, basePath } = upstreamTarget(baseUrl);
  return new URL(`${origin}${basePath}${path}`);
}
