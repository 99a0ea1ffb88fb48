/**
 * The request target a server acts on, in origin form (`/path?query`). Node hands `request.url` over as
 * the client sent it, and code that resolves it against another base (`new URL(request.url, upstream)`)
 * would let the client pick the host: an absolute-form target (`POST http://10.0.0.9/v1/…`), a
 * network-path one (`//10.0.0.9/v1/…`) or a backslash one (`/\10.0.0.9/…`, a slash to URL parsers).
 * Absolute-form targets are accepted as HTTP/1.1 requires, by keeping only their path and query (the
 * authority they name is ignored); a target that would still name a host, or is not a path, is refused.
 *
 * Both functions here are pure and called for every request, with the same few targets over and over:
 * their answers are cached (a bounded map, emptied when full), which saves a URL parse each per request.
 */

const probeOrigin = 'http://request-target.invalid';

/** Entries per cache; a client sending ever new targets only empties it now and then. */
const maxCached = 1024;
/** Longer targets are worked out each time (the cache stays small whatever clients send). */
const maxCachedLength = 512;

/** Remembers `value` for `key` unless the key is long; a full cache is emptied first. */
function remember<T>(cache: Map<string, T>, key: string, value: T): void {
  if (key.length > maxCachedLength) return;
  if (cache.size >= maxCached) cache.clear();
  cache.set(key, value);
}

const originForms = new Map<string, string | null>();

/** `target` in origin form, or undefined when it cannot be one. */
export function originFormTarget(target: string | undefined): string | undefined {
  if (target === undefined || target === '') return undefined;
  let cached = originForms.get(target);
  if (cached === undefined) {
    cached = toOriginForm(target);
    remember(originForms, target, cached);
  }
  return cached ?? undefined;
}

function toOriginForm(target: string): string | null {
  let path = target;
  if (/^https?:\/\//i.test(target)) {
    let absolute: URL;
    try {
      absolute = new URL(target);
    } catch {
      return null;
    }
    path = `${absolute.pathname}${absolute.search}`;
  }
  if (!path.startsWith('/')) return null;
  let resolved: URL;
  try {
    resolved = new URL(path, probeOrigin);
  } catch {
    return null;
  }
  // Resolved against any base, the path must stay on that base's host.
  if (resolved.origin !== probeOrigin || /^\/[/\\]/.test(path)) return null;
  return path;
}

/** A target resolved as a URL parser resolves it: dot segments removed, characters escaped. */
export interface ResolvedTarget {
  /** What routes are matched against (`/v1/chat/completions`). */
  pathname: string;
  /** The pathname and the query (`?…`), to send on to another server. */
  pathAndQuery: string;
}

const resolvedTargets = new Map<string, ResolvedTarget>();

/**
 * The resolved path of a request target (`request.url`; a missing one is `/`). Only the path and query
 * are kept: resolved against a placeholder host, whatever host the target names is dropped.
 */
export function resolveTarget(target: string | undefined): ResolvedTarget {
  const key = target ?? '/';
  let resolved = resolvedTargets.get(key);
  if (resolved === undefined) {
    const url = new URL(key, probeOrigin);
    resolved = { pathname: url.pathname, pathAndQuery: url.pathname + url.search };
    remember(resolvedTargets, key, resolved);
  }
  return resolved;
}
