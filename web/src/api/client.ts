import { clearAdminKey, loadAdminKey } from './admin-key';

/** An HTTP error answer, with the server's `{error:{message,code}}` when it sent one. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The route does not exist on this server (an older build). */
  get isMissing(): boolean {
    return this.status === 404 && (this.code === 'not_found' || this.code === null);
  }
}

let onUnauthorized: (() => void) | undefined;

/** Called when the server refuses the stored key (401): the app goes back to the login page. */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

/** Reads an error answer into an ApiError. */
export async function toApiError(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`;
  let code: string | null = null;
  try {
    const body = (await response.json()) as { error?: { message?: string; code?: string } };
    if (body.error?.message) message = body.error.message;
    code = body.error?.code ?? null;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(message, response.status, code);
}

export function authHeaders(key: string | null = loadAdminKey()): Record<string, string> {
  return key ? { authorization: `Bearer ${key}` } : {};
}

/**
 * Calls the management API (same origin) with the admin key. A 401 clears the key and returns the app to
 * the login page; other errors throw an ApiError.
 */
export async function api<T>(
  path: string,
  options: { method?: string; body?: unknown; key?: string; signal?: AbortSignal } = {},
): Promise<T> {
  const headers: Record<string, string> = { ...authHeaders(options.key ?? loadAdminKey()) };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: options.signal,
    cache: 'no-store',
  });
  if (!response.ok) {
    const error = await toApiError(response);
    if (response.status === 401 && options.key === undefined) {
      clearAdminKey();
      onUnauthorized?.();
    }
    throw error;
  }
  return (await response.json()) as T;
}
