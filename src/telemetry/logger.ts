import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured JSON logs (one line each) on stderr, so stdout stays free for command output.
 * Level from EDGEFLEET_LOG_LEVEL (default info).
 */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    { name, level: process.env['EDGEFLEET_LOG_LEVEL'] ?? 'info', base: { pid: process.pid, ...bindings } },
    pino.destination({ fd: 2, sync: false }),
  );
}
