/**
 * CORS for the OpenAI-compatible API (`--cors-origins`): which web origins may call `/v1` from a browser
 * (a team's chat front-end on another host, the openai SDK with `dangerouslyAllowBrowser`). Off unless
 * configured: then no answer carries CORS headers and browsers keep pages of other origins from reading
 * answers or sending the requests that need a preflight (an `Authorization` header, a JSON body).
 *
 * With origins configured, an allowed origin's preflight (`OPTIONS` with `Access-Control-Request-Method`)
 * is answered 204 without a key (browsers send none with it), and every answer to that origin, errors
 * included, says it may be read and which of EdgeFleet's headers it may see. Credentials in the CORS sense
 * (cookies) are never allowed: keys travel in `Authorization`, which the browser sends only when the page
 * has the key. The instance's own CORS headers are never relayed (the gateway answers for the fleet).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clipped, EdgeFleetError } from '../spec/edgefleet-error.js';

/** The allowed origins: any (`*`), or a set of `scheme://host[:port]` origins as browsers write them. */
export type CorsOrigins = '*' | ReadonlySet<string>;

/** Response headers a page may read besides the CORS-safelisted ones (content-type and the like). */
const exposed = 'retry-after, x-edgefleet-site, x-edgefleet-instance, x-request-id';
/** How long a browser may cache a preflight's answer (Chromium caps it at 2 hours). */
const preflightMaxAgeS = 600;
/** An `Access-Control-Request-Headers` value: header names (RFC 9110 tokens), comma-separated. */
const headerList = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*,[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;

/**
 * `--cors-origins`: `*`, or origins separated by commas (`https://chat.example.com,http://localhost:3000`).
 * Each must be an origin (a scheme, a host, a port when not the default; no path: a trailing slash is
 * dropped), so that what is allowed is what the browser sends in `Origin`.
 */
export function parseCorsOrigins(value: string): CorsOrigins {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) {
    throw new EdgeFleetError('invalid_argument', '--cors-origins needs * or a list of origins', {
      param: 'cors-origins',
    });
  }
  if (items.includes('*')) {
    if (items.length > 1) {
      throw new EdgeFleetError('invalid_argument', '--cors-origins takes * alone, or a list of origins', {
        param: 'cors-origins',
      });
    }
    return '*';
  }
  const origins = new Set<string>();
  for (const item of items) {
    let origin: string | undefined;
    try {
      const url = new URL(item);
      if (url.protocol === 'http:' || url.protocol === 'https:') origin = url.origin;
    } catch {
      // not a URL: refused below
    }
    if (origin === undefined || origin !== item.toLowerCase().replace(/\/$/, '')) {
      throw new EdgeFleetError(
        'invalid_argument',
        `--cors-origins: "${clipped(item, 100)}" is not an origin (http(s)://host[:port], no path)` +
          (origin !== undefined ? `; did you mean ${origin}?` : ''),
        { param: 'cors-origins' },
      );
    }
    origins.add(origin);
  }
  return origins;
}

/** Whether a request's `Origin` header names an allowed origin. */
export function corsAllows(origins: CorsOrigins, origin: string): boolean {
  return origins === '*' || origins.has(origin);
}

/**
 * Applies the CORS policy to one request under `/v1`: sets the answer's CORS headers, and answers a
 * preflight. True when the request was a preflight and has been answered (204 for an allowed origin; 403
 * `forbidden` is thrown for another, so the refusal is logged like other errors).
 *
 * With `*` every answer says so, `Origin` or not; with a list, an allowed origin is named in
 * `access-control-allow-origin` and every answer carries `vary: Origin`, so that a cache never hands one
 * origin's answer to another (the Fetch standard's "CORS protocol and HTTP caches").
 */
export function answerCors(
  request: IncomingMessage,
  response: ServerResponse,
  origins: CorsOrigins,
): boolean {
  const { origin } = request.headers;
  if (origins !== '*') response.setHeader('vary', 'Origin');
  const preflight =
    origin !== undefined &&
    request.method === 'OPTIONS' &&
    request.headers['access-control-request-method'] !== undefined;
  const allowed = origins === '*' ? '*' : origin !== undefined && origins.has(origin) ? origin : undefined;
  if (allowed === undefined) {
    if (!preflight) return false; // answered as usual, without CORS headers: a browser keeps it from the page
    throw new EdgeFleetError(
      'forbidden',
      `cross-origin request refused: Origin "${clipped(origin!, 100)}" is not one of this gateway's --cors-origins`,
    );
  }
  response.setHeader('access-control-allow-origin', allowed);
  if (!preflight) {
    response.setHeader('access-control-expose-headers', exposed);
    return false;
  }
  const asked = request.headers['access-control-request-headers'];
  const headers = asked !== undefined && headerList.test(asked) ? asked : 'authorization, content-type';
  response.writeHead(204, {
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    'access-control-allow-headers': headers,
    'access-control-max-age': String(preflightMaxAgeS),
    vary: 'Origin, Access-Control-Request-Headers',
  });
  response.end();
  return true;
}
