import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

/** A parsed model reference: where to download it from and where it lives in the cache. */
export type ModelRef =
  | {
      kind: 'hf';
      /** Canonical form: `hf:<user>/<repo>[@<revision>]/<file>` (`@main` omitted). */
      ref: string;
      repo: string;
      revision: string;
      file: string;
    }
  | { kind: 'url'; ref: string; url: URL };

const HF_PREFIX = /^hf:(?:\/\/)?/;
const HF_WEB_PATH = /^\/([^/]+)\/([^/]+)\/(?:resolve|blob)\/([^/]+)\/(.+)$/;

/** True for hosts that never leave this machine; plain http is allowed only for them. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Refuses URLs that are neither https nor loopback http. */
export function assertSafeUrl(url: URL, what: string): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  if (url.protocol === 'http:') {
    throw new EdgeFleetError(
      'invalid_argument',
      `${what} uses plain http (${url.host}); only https is allowed, except for 127.0.0.1/localhost`,
      { param: 'ref' },
    );
  }
  throw new EdgeFleetError('invalid_argument', `${what} has unsupported protocol "${url.protocol}"`, {
    param: 'ref',
  });
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function safeSegment(segment: string, ref: string): string {
  if (segment === '' || segment === '.' || segment === '..' || /[\\\0]/.test(segment)) {
    throw new EdgeFleetError('invalid_argument', `invalid path segment "${segment}" in model ref "${ref}"`, {
      param: 'ref',
    });
  }
  return segment;
}

function hfRef(user: string, repoName: string, revision: string, file: string, raw: string): ModelRef {
  const repo = `${safeSegment(user, raw)}/${safeSegment(repoName, raw)}`;
  file.split('/').forEach((segment) => safeSegment(segment, raw));
  safeSegment(revision, raw);
  if (!file.toLowerCase().endsWith('.gguf')) {
    throw new EdgeFleetError(
      'invalid_argument',
      `model ref "${raw}" must name a .gguf file, e.g. hf:bartowski/Repo-GGUF/Model-Q4_K_M.gguf`,
      { param: 'ref' },
    );
  }
  const rev = revision === 'main' ? '' : `@${revision}`;
  return { kind: 'hf', ref: `hf:${repo}${rev}/${file}`, repo, revision, file };
}

/**
 * Parses `hf:<user>/<repo>[@<revision>]/<path/to/file.gguf>`, a Hugging Face web URL
 * (`https://huggingface.co/<user>/<repo>/resolve|blob/<rev>/<file>`, mapped to an hf ref), or a plain
 * `https://` URL (`http://` only for loopback hosts).
 */
export function parseModelRef(raw: string): ModelRef {
  const input = raw.trim();
  if (HF_PREFIX.test(input)) {
    const match = /^([^/]+)\/([^/@]+)(?:@([^/]+))?\/(.+)$/.exec(input.replace(HF_PREFIX, ''));
    if (!match) {
      throw new EdgeFleetError(
        'invalid_argument',
        `invalid model ref "${raw}": expected hf:<user>/<repo>[@<revision>]/<file.gguf>`,
        { param: 'ref' },
      );
    }
    const [, user = '', repoName = '', revision = 'main', file = ''] = match;
    return hfRef(user, repoName, revision, file, raw);
  }
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new EdgeFleetError(
      'invalid_argument',
      `invalid model ref "${raw}": expected hf:<user>/<repo>/<file.gguf> or an https:// URL`,
      { param: 'ref' },
    );
  }
  assertSafeUrl(url, `model URL "${raw}"`);
  const web = /^(?:www\.)?(?:huggingface\.co|hf\.co)$/.test(url.hostname)
    ? HF_WEB_PATH.exec(url.pathname)
    : null;
  if (web && url.search === '') {
    const [, user = '', repoName = '', revision = '', file = ''] = web.map(decode);
    return hfRef(user, repoName, revision, file, raw);
  }
  url.hash = '';
  return { kind: 'url', ref: url.href, url };
}

/** The URL to download from. hf refs honour the Hugging Face endpoint (a mirror, or a test server). */
export function downloadUrl(ref: ModelRef, hfEndpoint: string = DEFAULT_HF_ENDPOINT): URL {
  if (ref.kind === 'url') return new URL(ref.url);
  const base = hfEndpoint.replace(/\/+$/, '');
  const file = ref.file.split('/').map(encodeURIComponent).join('/');
  const url = new URL(`${base}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${file}`);
  assertSafeUrl(url, `Hugging Face endpoint "${hfEndpoint}"`);
  return url;
}

/**
 * Where a ref lives under `<home>/models`:
 *   hf refs:  hf/<user>/<repo>/<revision>/<path/to/file.gguf>
 *   URLs:     url/<host[_port]>/<first 12 hex of sha256(url)>/<file name>(.gguf)
 */
export function cachePath(modelsDir: string, ref: ModelRef): string {
  if (ref.kind === 'hf') {
    return join(
      modelsDir,
      'hf',
      ...ref.repo.split('/'),
      encodeURIComponent(ref.revision),
      ...ref.file.split('/'),
    );
  }
  const host = ref.url.host.replace(/[^A-Za-z0-9.-]/g, '_');
  const digest = createHash('sha256').update(ref.url.href).digest('hex').slice(0, 12);
  const last = decode(ref.url.pathname.split('/').pop() ?? '').replace(/[^A-Za-z0-9._-]/g, '_');
  const base = last.replace(/^\.+/, '') || 'model';
  return join(modelsDir, 'url', host, digest, base.toLowerCase().endsWith('.gguf') ? base : `${base}.gguf`);
}
