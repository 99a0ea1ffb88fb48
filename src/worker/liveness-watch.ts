/**
 * Watches a ready engine's health endpoint and reports it hung once it has failed `failures` checks in a
 * row (no answer within `timeoutMs`, or an error status): a deadlocked or stopped engine process does not
 * exit, so without this its supervisor would never restart it, and requests sent to it would wait for
 * their first byte. A busy engine still answers its health check (it is served apart from generation),
 * so the default allows 30 s of silence before the verdict.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface LivenessOptions {
  /** Between checks (default 5000). */
  everyMs?: number;
  /** Checks failed in a row that make the engine hung (default 6). */
  failures?: number;
  /** One check's limit (default 2000). */
  timeoutMs?: number;
  /** Whether an answer says the engine is fine (default: a 2xx status). */
  healthy?: (status: number, body: string) => boolean;
}

/**
 * Checks `url` while `watching()` holds; calls `onHung` once, with why, when the engine stopped answering.
 * Never rejects.
 */
export async function watchLiveness(
  url: string,
  watching: () => boolean,
  onHung: (reason: string) => void,
  options: LivenessOptions = {},
): Promise<void> {
  const everyMs = options.everyMs ?? 5000;
  const failures = options.failures ?? 6;
  const timeoutMs = options.timeoutMs ?? 2000;
  let failed = 0;
  let failingSinceMs = 0;
  let last = '';
  while (watching()) {
    // Unref'd: a watch never keeps a process that is shutting down alive.
    await sleep(everyMs, undefined, { ref: false });
    if (!watching()) return;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      const body = await response.text().catch(() => '');
      if (options.healthy ? options.healthy(response.status, body) : response.ok) {
        failed = 0;
        continue;
      }
      last = `status ${response.status}`;
    } catch (error) {
      last =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : String(error);
    }
    failed += 1;
    // From the last good check (or the start of the watch), a sleep before the first failed one.
    if (failed === 1) failingSinceMs = Date.now() - everyMs;
    if (failed >= failures && watching()) {
      const seconds = Math.round((Date.now() - failingSinceMs) / 1000);
      onHung(`the engine failed ${failed} health checks in a row over ${seconds} s (${last})`);
      return;
    }
  }
}
