import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured JSON logs (one line each) on stderr, so stdout stays free for command output.
 * Level from EDGEFLEET_LOG_LEVEL (default info).
 */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    { name, level: process.env['EDGEFLEET_LOG_LEVEL'] ?? 'info', base: { pid: process.pid, ...bindings } },
    stderrLines(),
  );
}

let stderr: TurnBufferedLines | undefined;

/**
 * Text for stderr that is not a log line (an engine's own output passed on), written in order with the
 * log lines; a closed stderr (EPIPE) loses it, never the process.
 */
export function writeToStderr(text: string): void {
  stderrLines().write(text);
}

/** The one destination of every logger in the process: stderr, written once per event-loop turn. */
function stderrLines(): TurnBufferedLines {
  stderr ??= new TurnBufferedLines(2);
  return stderr;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Log lines collected during an event-loop turn and written with one synchronous `write` at its end
 * (`setImmediate`), and at exit. A gateway logs a line per request: writing each through the thread pool
 * (pino's asynchronous destination) cost a thread hand-off and a wake-up of the event loop per request,
 * a third of the gateway's added latency at one request at a time; writing each synchronously would cost a
 * system call per line under load. Lines are never torn or reordered; a process killed by SIGKILL loses
 * at most the lines of its current turn.
 */
class TurnBufferedLines implements DestinationStream {
  private pending: string[] = [];
  private scheduled = false;

  constructor(private readonly fd: number) {
    process.on('exit', () => this.writeNow());
  }

  write(line: string): void {
    this.pending.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.writeNow());
  }

  /** pino's `logger.flush(cb)`. */
  flush(done?: (error?: Error) => void): void {
    this.writeNow();
    done?.();
  }

  private writeNow(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    let bytes = Buffer.from(this.pending.length === 1 ? this.pending[0]! : this.pending.join(''));
    this.pending = [];
    while (bytes.length > 0) {
      try {
        bytes = bytes.subarray(writeSync(this.fd, bytes));
      } catch (error) {
        // A full non-blocking pipe: wait for the reader. A closed one (EPIPE…): the lines have nowhere to go.
        if ((error as { code?: unknown }).code !== 'EAGAIN') return;
        Atomics.wait(pause, 0, 0, 1);
      }
    }
  }
}
