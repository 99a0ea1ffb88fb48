/** The most of an unfinished line kept (a progress bar redrawn with \r never ends its line). */
const maxPartialChars = 4096;

/** The last lines a child process wrote, to say why it died. */
export class TailBuffer {
  private readonly lines: string[] = [];
  private partial = '';

  constructor(private readonly maxLines: number) {}

  push(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = (parts.pop() ?? '').slice(-maxPartialChars);
    for (const line of parts) {
      if (line.trim() === '') continue;
      this.lines.push(line);
      if (this.lines.length > this.maxLines) this.lines.shift();
    }
  }

  /**
   * The message of the last error-level structured log line, else the last plain line that reads like an
   * error, else the last plain line written; '' when there is none (a structured line that is no error,
   * such as "engine ready", says nothing about why the process ended).
   */
  lastError(): string {
    const all = this.partial.trim() === '' ? this.lines : [...this.lines, this.partial];
    for (let i = all.length - 1; i >= 0; i--) {
      const line = all[i] ?? '';
      const entry = structured(line);
      if (entry === null) {
        if (/abort|assert|error|fatal/i.test(line)) return line.trim();
      } else if ((entry.level ?? 0) >= 50) return [entry.msg, entry.err?.message].filter(Boolean).join(': ');
    }
    const last = all.at(-1) ?? '';
    return structured(last) === null ? last.trim() : '';
  }

  /** Why the process ended: lastError(), else how it ended (a SIGKILL leaves no line of its own). */
  exitReason(code: number | null, signal: NodeJS.Signals | null): string {
    return this.lastError() || (signal !== null ? `killed by ${signal}` : `exited with code ${code}`);
  }
}

/** A structured (JSON) log line, or null for plain text. */
function structured(line: string): { level?: number; msg?: string; err?: { message?: string } } | null {
  if (!line.trimStart().startsWith('{')) return null;
  try {
    const entry = JSON.parse(line) as unknown;
    return typeof entry === 'object' && entry !== null ? entry : null;
  } catch {
    return null;
  }
}
