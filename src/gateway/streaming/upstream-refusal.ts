/**
 * An instance's refusal (5xx or 429 before the last try; 401 or 403 always: those refuse the gateway's
 * own credential, never the client's) read for what it says: at most 2 KB of its body, for at most 1 s
 * (an engine that never ends its body must not hold the request), and its `retry-after`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { errorBodyMessage } from '../../spec/edgefleet-error.js';
import { UpstreamRefusedError } from './forward-types.js';

const maxTextChars = 2048;
const readMs = 1000;

export class UpstreamRefusal {
  private text = '';
  private readonly retryAfterS: number | undefined;
  private readonly timer: NodeJS.Timeout;

  /** @param enough called when `readMs` have passed: the refusal is to be decided on what came. */
  constructor(
    private readonly status: number,
    headers: IncomingHttpHeaders,
    enough: () => void,
  ) {
    this.retryAfterS = retryAfterSeconds(headers['retry-after']);
    this.timer = setTimeout(enough, readMs);
  }

  /** Takes a chunk of the body; true when enough of it was read. */
  read(chunk: Buffer): boolean {
    this.text = (this.text + chunk.toString()).slice(0, maxTextChars);
    return this.text.length >= maxTextChars;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** The refusal as the caller gets it (and, on the last try, the client). */
  error(): UpstreamRefusedError {
    const { status } = this;
    const said = errorBodyMessage(this.text)?.message ?? (this.text.slice(0, 200) || '(no body)');
    return new UpstreamRefusedError(
      status === 401 || status === 403
        ? `the instance refused the gateway's credentials (${status}: ${said}); check the API key it was ` +
            'registered with (edgefleet endpoints add --upstream-key)'
        : `the instance answered ${status}: ${said}`,
      status,
      undefined,
      this.retryAfterS,
    );
  }
}

/** A `retry-after` header's wait in whole seconds (delta-seconds or an HTTP date), or undefined. */
export function retryAfterSeconds(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const seconds = /^\s*\d+\s*$/.test(value) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.min(Math.max(0, Math.ceil(seconds)), 86_400) : undefined;
}
