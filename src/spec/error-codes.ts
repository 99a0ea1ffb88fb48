/**
 * The one table of stable error codes. Every EdgeFleetError carries one of these; the HTTP layer maps
 * them to a status and to OpenAI's `error.type`.
 */
export const errorCodes = {
  invalid_json: { status: 400, type: 'invalid_request_error', retryable: false },
  invalid_request: { status: 400, type: 'invalid_request_error', retryable: false },
  unsupported_parameter: { status: 400, type: 'invalid_request_error', retryable: false },
  context_length_exceeded: { status: 400, type: 'invalid_request_error', retryable: false },
  model_not_found: { status: 404, type: 'invalid_request_error', retryable: false },
  not_found: { status: 404, type: 'invalid_request_error', retryable: false },
  method_not_allowed: { status: 405, type: 'invalid_request_error', retryable: false },
  /** An OpenAI route this engine does not serve (the embedded engine and `/v1/embeddings`), as llama-server answers. */
  not_implemented: { status: 501, type: 'invalid_request_error', retryable: false },
  request_too_large: { status: 413, type: 'invalid_request_error', retryable: false },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', retryable: false },
  malformed_http: { status: 400, type: 'invalid_request_error', retryable: false },
  request_timeout: { status: 408, type: 'invalid_request_error', retryable: false },
  headers_too_large: { status: 431, type: 'invalid_request_error', retryable: false },
  server_busy: { status: 429, type: 'rate_limit_error', retryable: true },
  rate_limited: { status: 429, type: 'rate_limit_error', retryable: true },
  internal_error: { status: 500, type: 'server_error', retryable: true },
  engine_error: { status: 502, type: 'server_error', retryable: true },
  engine_unavailable: { status: 503, type: 'server_error', retryable: true },
  engine_loading: { status: 503, type: 'server_error', retryable: true },
  upstream_timeout: { status: 504, type: 'server_error', retryable: true },
  invalid_model_file: { status: 400, type: 'invalid_request_error', retryable: false },
  download_failed: { status: 502, type: 'server_error', retryable: true },
  checksum_mismatch: { status: 502, type: 'server_error', retryable: false },
  download_not_found: { status: 404, type: 'invalid_request_error', retryable: false },
  download_denied: { status: 403, type: 'permission_error', retryable: false },
  insufficient_storage: { status: 507, type: 'server_error', retryable: false },
  invalid_argument: { status: 400, type: 'invalid_request_error', retryable: false },
  conflict: { status: 409, type: 'invalid_request_error', retryable: false },
  store_unavailable: { status: 503, type: 'server_error', retryable: true },
  store_schema_too_new: { status: 500, type: 'server_error', retryable: false },
  unauthorized: { status: 401, type: 'authentication_error', retryable: false },
  forbidden: { status: 403, type: 'permission_error', retryable: false },
} as const;

export type ErrorCode = keyof typeof errorCodes;
