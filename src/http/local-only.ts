/**
 * What a server that needs no API key on a loopback address (`edgefleet up`) does against web pages in
 * the user's browser, which can reach loopback too: a page of another site can send a "simple" cross-site
 * request (a `text/plain` POST needs no CORS preflight; the page cannot read the answer, but the
 * inference runs), and a page of a site whose name the attacker re-points at 127.0.0.1 (DNS rebinding)
 * is same-origin with the server and can read every answer. So, as Jupyter and similar local servers do:
 *
 * - the `Host` header must name a loopback address (`localhost`, `127.0.0.0/8`, `[::1]`, any port);
 *   a page reached through DNS rebinding sends its own site's name there;
 * - an `Origin` header, which browsers send with every cross-origin POST and fetch (and with a
 *   same-origin POST; not with a GET of an image or script, which reaches no route with effects), must be the server's own origin (`http(s)://` and the `Host` sent); the dashboard, served
 *   from that origin, passes. Programs (curl, the openai SDKs) send no `Origin` and pass.
 *
 * Both refusals are 403 `forbidden` in OpenAI's error shape. A server that needs a key has no use for
 * this: a cross-site page cannot send an `Authorization` header without a preflight, which is refused.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { clipped, EdgeFleetError } from '../spec/edgefleet-error.js';
import { corsAllows, type CorsOrigins } from './cors.js';

/** Whether a `Host` header value names a loopback address (with a port or without). */
export function isLoopbackHost(host: string): boolean {
  const match = /^(\[[^\]]*\]|[^:[\]]+)(?::\d{1,5})?$/.exec(host);
  if (!match) return false;
  const name = match[1]!.toLowerCase();
  if (name === 'localhost' || name === '[::1]') return true;
  return isIP(name) === 4 && name.startsWith('127.');
}

/** The origin a browser gives a page of this server reached at `host`; undefined when none is valid. */
function ownOrigin(host: string, tls: boolean): string | undefined {
  try {
    return new URL(`${tls ? 'https' : 'http'}://${host}`).origin;
  } catch {
    return undefined;
  }
}

/** The origin an `Origin` header names, normalised as browsers write it; undefined for `null` and junk. */
function originOf(header: string): string | undefined {
  try {
    const origin = new URL(header).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * Throws 403 `forbidden` for a request a web page may have sent against the user's will: one addressed
 * to a `Host` that is not loopback, or with an `Origin` other than this server's own and not among
 * `allowed` (the `--cors-origins` the user gave for this route). `tls`: the server listens with HTTPS. A
 * request without `Host` (HTTP/1.0) is no browser's and is judged by `Origin`.
 */
export function refuseForeignBrowserRequest(
  request: IncomingMessage,
  tls: boolean,
  allowed?: CorsOrigins,
): void {
  const { host, origin } = request.headers;
  if (host !== undefined && !isLoopbackHost(host)) {
    throw new EdgeFleetError(
      'forbidden',
      `Host "${clipped(host, 100)}" is not a loopback address: this server needs no API key, so it ` +
        'answers only requests addressed to localhost, 127.0.0.1 or [::1] (a web page could otherwise ' +
        'reach it under another name, by DNS rebinding); to serve other names, start it with --require-key',
    );
  }
  if (origin === undefined || (allowed !== undefined && corsAllows(allowed, origin))) return;
  const own = host === undefined ? undefined : ownOrigin(host, tls);
  if (own !== undefined && originOf(origin) === own) return;
  throw new EdgeFleetError(
    'forbidden',
    `cross-origin request refused: Origin "${clipped(origin, 100)}" is not this server` +
      `${own === undefined ? '' : ` (${own})`}. This server needs no API key, so it answers web pages ` +
      'of its own origin only (its dashboard), not other sites open in a browser; programs that send no ' +
      'Origin header (curl, the openai SDKs) are served; to serve pages of other origins under /v1, start ' +
      'it with --cors-origins',
  );
}
