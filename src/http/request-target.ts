/**
 * The request target a server acts on, in origin form (`/path?query`). Node hands `request.url` over as
 * the client sent it, and code that resolves it against another base (`new URL(request.url, upstream)`)
 * would let the client pick the host: an absolute-form target (`POST http://10.0.0.9/v1/…`), a
 * network-path one (`//10.0.0.9/v1/…`) or a backslash one (`/\10.0.0.9/…`, a slash to URL parsers).
 * Absolute-form targets are accepted as HTTP/1.1 requires, by keeping only their path and query (the
 * authority they name is ignored); a target that would still name a host, or is not a path, is refused.
 */

const probeOrigin = 'http://request-target.invalid';

/** `target` in origin form, or undefined when it cannot be one. */
export function originFormTarget(target: string | undefined): string | undefined {
  if (target === undefined || target === '') return undefined;
  let path = target;
  if (/^https?:\/\//i.test(target)) {
    let absolute: URL;
    try {
      absolute = new URL(target);
    } catch {
      return undefined;
    }
    path = `${absolute.pathname}${absolute.search}`;
  }
  if (!path.startsWith('/')) return undefined;
  let resolved: URL;
  try {
    resolved = new URL(path, probeOrigin);
  } catch {
    return undefined;
  }
  // Resolved against any base, the path must stay on that base's host.
  if (resolved.origin !== probeOrigin || /^\/[/\\]/.test(path)) return undefined;
  return path;
}
