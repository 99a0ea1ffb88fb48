/**
 * Where the control plane reads a remote model's GGUF header from: an `https://` URL (plain `http://` only
 * for loopback hosts) as is, and `hf:<user>/<repo>[@<revision>]/<file.gguf>` under the Hugging Face
 * endpoint (`$HF_ENDPOINT`, default https://huggingface.co) as `<endpoint>/<user>/<repo>/resolve/<rev>/<file>`,
 * with `$HF_TOKEN` as a bearer token. The same mapping as the worker's model refs (src/worker/models/
 * model-ref.ts), which the control layer may not import.
 */
import { EdgeFleetError } from '../../spec/edgefleet-error.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

export interface RemoteModelUrl {
  url: URL;
  /** Request headers (the bearer token for Hugging Face refs when one is configured). */
  headers: Record<string, string>;
  /** The file name without `.gguf`: the model id the planner sees. */
  name: string;
}

const isLoopbackHost = (hostname: string): boolean => {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
};

function checkedUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EdgeFleetError('invalid_argument', `${what} "${raw}" is not a URL`);
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) return url;
  throw new EdgeFleetError(
    'invalid_argument',
    `${what} "${raw}" must be https (plain http only for 127.0.0.1/localhost)`,
  );
}

const stem = (path: string): string => {
  const last = path.split('/').pop() ?? '';
  let decoded = last;
  try {
    decoded = decodeURIComponent(last);
  } catch {
    // keep it encoded
  }
  return decoded.replace(/\.gguf$/i, '') || 'model';
};

/** True when the control plane should read `ref` over HTTP. */
export function isRemoteModelRef(ref: string): boolean {
  return ref.startsWith('hf:') || /^https?:\/\//i.test(ref);
}

/** Maps a remote ref to the URL and headers to read it with; a malformed ref throws `invalid_argument`. */
export function remoteModelUrl(
  ref: string,
  env: { hfEndpoint?: string | undefined; hfToken?: string | undefined } = {},
): RemoteModelUrl {
  if (!ref.startsWith('hf:')) {
    const url = checkedUrl(ref.trim(), 'model URL');
    url.hash = '';
    return { url, headers: {}, name: stem(url.pathname) };
  }
  const match = /^([^/]+)\/([^/@]+)(?:@([^/]+))?\/(.+\.gguf)$/i.exec(ref.trim().replace(/^hf:(?:\/\/)?/, ''));
  const parts = match?.slice(1) ?? [];
  if (!match || parts.some((p) => p !== undefined && /(^|\/)\.{0,2}(\/|$)|[\\\0]/.test(p))) {
    throw new EdgeFleetError(
      'invalid_argument',
      `invalid model ref "${ref}": expected hf:<user>/<repo>[@<revision>]/<file.gguf>`,
    );
  }
  const [, user = '', repo = '', revision = 'main', file = ''] = match;
  const base = (env.hfEndpoint ?? DEFAULT_HF_ENDPOINT).replace(/\/+$/, '');
  const path = file.split('/').map(encodeURIComponent).join('/');
  const url = checkedUrl(
    `${base}/${user}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`,
    'Hugging Face URL',
  );
  const headers: Record<string, string> = env.hfToken ? { authorization: `Bearer ${env.hfToken}` } : {};
  return { url, headers, name: stem(file) };
}
