import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { assertSafeUrl } from './model-ref.js';

/** A response ready to stream: 200, 206 or 416 after following redirects. */
export interface OpenedDownload {
  response: IncomingMessage;
  status: number;
  finalUrl: URL;
  /** HF's `x-linked-etag` / `x-linked-size` from any hop (LFS files: the sha256 and size of the content). */
  linkedEtag: string | null;
  linkedSizeBytes: number | null;
}

export interface OpenDownloadOptions {
  url: URL;
  /** The user's ref, for messages. */
  ref: string;
  isHuggingFace: boolean;
  headers?: Record<string, string>;
  /** Sent as `Authorization: Bearer` to the first host only; dropped when redirected to another host. */
  token?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Limit for DNS + connect + response headers on each hop. */
  connectTimeoutMs: number;
  maxRedirects?: number;
}

const UNREACHABLE = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ETIMEDOUT',
  'ECONNABORTED',
]);
const NOT_FOUND_CODES = new Set(['RepoNotFound', 'EntryNotFound', 'RevisionNotFound']);

/** Wraps a socket-level error; `data.unreachable` marks "could not connect at all" (offline, DNS, refused). */
export function networkError(
  error: unknown,
  url: URL,
  ref: string,
  phase: 'connect' | 'body',
  isHuggingFace = false,
): EdgeFleetError {
  if (error instanceof EdgeFleetError) return error;
  const err = error as NodeJS.ErrnoException;
  const code = err.code ?? 'UNKNOWN';
  const unreachable = phase === 'connect' && UNREACHABLE.has(code);
  const detail = err.message.includes(code) ? err.message : `${code}: ${err.message}`;
  const message = unreachable
    ? `cannot reach ${url.host} to download ${ref} (${detail}); check the network connection, ` +
      `${isHuggingFace ? 'set HF_ENDPOINT to a reachable mirror, ' : ''}or put the model file in the cache by hand`
    : `download of ${ref} from ${url.host} failed (${detail})`;
  return new EdgeFleetError('download_failed', message, {
    data: { ref, host: url.host, errno: code, unreachable },
    cause: error,
  });
}

function statusError(status: number, headers: IncomingHttpHeaders, url: URL, options: OpenDownloadOptions) {
  const hfCode = String(headers['x-error-code'] ?? '');
  const hfMessage = headers['x-error-message'] ? `: ${String(headers['x-error-message'])}` : '';
  const where = options.isHuggingFace ? 'on Hugging Face' : `at ${url.host}`;
  const data = { ref: options.ref, status, url: url.origin + url.pathname };
  if (status === 404 || NOT_FOUND_CODES.has(hfCode)) {
    const hint =
      options.isHuggingFace && !options.token ? ' (if the repository is private, set HF_TOKEN)' : '';
    return new EdgeFleetError('download_not_found', `not found ${where}: ${options.ref}${hint}${hfMessage}`, {
      data,
    });
  }
  if (status === 401 || status === 403) {
    const hint = options.isHuggingFace
      ? options.token
        ? ' — the HF_TOKEN has no access; for a gated model, accept its license on the model page first'
        : ' — set HF_TOKEN to a Hugging Face access token (gated or private model)'
      : '';
    return new EdgeFleetError(
      'download_denied',
      `access denied ${where} (HTTP ${status}): ${options.ref}${hint}${hfMessage}`,
      {
        data,
      },
    );
  }
  return new EdgeFleetError(
    'download_failed',
    `download of ${options.ref} failed: HTTP ${status} from ${url.host}${hfMessage}`,
    {
      data: { ...data, unreachable: false },
    },
  );
}

function requestOnce(
  url: URL,
  headers: Record<string, string>,
  options: OpenDownloadOptions,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const get = url.protocol === 'https:' ? https.get : http.get;
    const request = get(url, { headers, agent: false, signal: options.signal }, (response) => {
      clearTimeout(timer);
      resolve(response);
    });
    const timer = setTimeout(() => {
      const error = Object.assign(new Error(`no response within ${options.connectTimeoutMs} ms`), {
        code: 'ETIMEDOUT',
      });
      request.destroy(error);
    }, options.connectTimeoutMs);
    request.once('error', (error) => {
      clearTimeout(timer);
      reject(
        options.signal?.aborted
          ? options.signal.reason
          : networkError(error, url, options.ref, 'connect', options.isHuggingFace),
      );
    });
  });
}

/**
 * GETs `url`, following up to `maxRedirects` redirects (http only to loopback hosts, no https → http
 * downgrade elsewhere), and returns a 200/206/416 response whose body is not yet read. Other statuses
 * become clear errors: 404 → `download_not_found`, 401/403 → `download_denied`, others → `download_failed`.
 */
export async function openDownload(options: OpenDownloadOptions): Promise<OpenedDownload> {
  const maxRedirects = options.maxRedirects ?? 10;
  let url = options.url;
  let linkedEtag: string | null = null;
  let linkedSizeBytes: number | null = null;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    assertSafeUrl(url, hop === 0 ? `download URL for ${options.ref}` : `redirect target ${url.host}`);
    const headers: Record<string, string> = {
      'user-agent': 'edgefleet',
      'accept-encoding': 'identity',
      ...options.headers,
    };
    if (options.token && url.host === options.url.host) headers['authorization'] = `Bearer ${options.token}`;
    const response = await requestOnce(url, headers, options);
    const status = response.statusCode ?? 0;
    linkedEtag ??= (response.headers['x-linked-etag'] as string | undefined) ?? null;
    const linkedSize = Number(response.headers['x-linked-size']);
    if (linkedSizeBytes === null && Number.isSafeInteger(linkedSize)) linkedSizeBytes = linkedSize;
    if (status >= 300 && status < 400 && response.headers.location) {
      response.resume();
      url = new URL(response.headers.location, url);
      continue;
    }
    if (status === 200 || status === 206 || status === 416) {
      return { response, status, finalUrl: url, linkedEtag, linkedSizeBytes };
    }
    response.resume();
    throw statusError(status, response.headers, url, options);
  }
  throw new EdgeFleetError('download_failed', `too many redirects while downloading ${options.ref}`, {
    data: { ref: options.ref, unreachable: false },
  });
}
