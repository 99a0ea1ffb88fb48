/**
 * How a server logs a request that failed. An error with a code of its own that says what went wrong
 * outside this process (no engine to answer, the store down, an engine's failure) is a warning with its
 * code and message: it is expected while a room restarts, and a stack per request would bury the log.
 * Anything else (a bug, `internal_error`) is an error with its stack. Client errors (4xx) are left to the
 * access log.
 */
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { Logger } from '../telemetry/logger.js';

export function logRequestFailure(log: Logger, error: unknown, fields: Record<string, unknown>): void {
  if (error instanceof EdgeFleetError) {
    if (error.status < 500) return;
    if (error.code !== 'internal_error') {
      log.warn({ ...fields, code: error.code, reason: error.message }, 'request failed');
      return;
    }
  }
  log.error({ ...fields, err: error }, 'request failed');
}
