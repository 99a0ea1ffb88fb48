import { errorCodes, type ErrorCode } from './error-codes.js';

/** The single error base class: a stable code from the table, optional data, and whether a retry may help. */
export class EdgeFleetError extends Error {
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly data: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { param?: string | null; data?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgeFleetError';
    this.code = code;
    this.param = options.param ?? null;
    this.data = Object.freeze({ ...(options.data ?? {}) });
  }

  get status(): number {
    return errorCodes[this.code].status;
  }

  get isRetryable(): boolean {
    return errorCodes[this.code].retryable;
  }
}

/**
 * 405 for a method the path does not take; `allow` becomes the answer's `Allow` header (RFC 9110
 * requires it on a 405).
 */
export function methodNotAllowed(method: string, target: string, allow: readonly string[]): EdgeFleetError {
  return new EdgeFleetError(
    'method_not_allowed',
    `${clipped(method, 20)} ${clipped(target)} is not supported; use ${allow.join(' or ')}`,
    { data: { allow: allow.join(', ') } },
  );
}

/** OpenAI's error body: `{"error":{"message","type","param","code"}}`. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/**
 * The message and code of an error answer's body in OpenAI's shape (EdgeFleet's, vLLM's, llama.cpp's
 * servers), for showing a person; null when the body is not that shape.
 */
export function errorBodyMessage(text: string): { message: string; code: string | null } | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    return null;
  }
  const error = (parsed as { error?: { message?: unknown; code?: unknown } } | null)?.error;
  if (typeof error?.message !== 'string') return null;
  return { message: error.message, code: typeof error.code === 'string' ? error.code : null };
}

/**
 * A client's value quoted in an error message, cut to `max` characters: a 3 MB model name or key id must
 * not come back as a 3 MB error.
 */
export function clipped(value: string, max = 200): string {
  return value.length <= max ? value : `${value.slice(0, max)}… (${value.length} characters)`;
}

/** Turns any thrown value into OpenAI's error shape and an HTTP status. Unknown errors become 500s. */
export function toOpenAiError(error: unknown): { status: number; body: OpenAiErrorBody } {
  const known =
    error instanceof EdgeFleetError
      ? error
      : new EdgeFleetError('internal_error', error instanceof Error ? error.message : 'internal error');
  return {
    status: known.status,
    body: {
      error: {
        message: known.message,
        type: errorCodes[known.code].type,
        param: known.param,
        code: known.code,
      },
    },
  };
}
