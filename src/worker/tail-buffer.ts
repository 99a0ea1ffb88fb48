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

  /** The message of the last error-level structured log line, else the last line written. */
  lastError(): string {
    const all = this.partial.trim() === '' ? this.lines : [...this.lines, this.partial];
    for (let i = all.length - 1; i >= 0; i--) {
      const line = all[i] ?? '';
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
        if ((entry.level ?? 0) >= 50) return [entry.msg, entry.err?.message].filter(Boolean).join(': ');
      } catch {
        if (/abort|assert|error|fatal/i.test(line)) return line.trim();
      }
    }
    return all.at(-1)?.trim() ?? '';
  }
}
