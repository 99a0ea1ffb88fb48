/**
 * The last lines of an instance's engine log, bounded in lines, bytes and line length, for the
 * heartbeat (the control plane shows them in the dashboard). Fed with raw output chunks (partial lines
 * are joined) or with whole lines; `version` changes whenever the tail does.
 */
export interface LogTailOptions {
  /** Lines kept (default 50). */
  maxLines?: number;
  /** UTF-8 bytes of all kept lines together (default 16 KiB). */
  maxBytes?: number;
  /** Longer lines are cut to this many characters, ending in `…` (default 2000). */
  maxLineChars?: number;
  /** Rewrites each line pushed as output (e.g. a JSON log record into readable text). */
  format?: (line: string) => string;
}

const levelNames: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const recordKeys = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'v']);

/**
 * A pino JSON record as one readable line: `2026-01-01T12:00:00.000Z INFO message {"extra":"fields"}`.
 * Anything that is not such a record is returned unchanged.
 */
export function readableLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof record['level'] !== 'number') return line;
  const time = typeof record['time'] === 'number' ? `${new Date(record['time']).toISOString()} ` : '';
  const level = levelNames[record['level']] ?? `LEVEL${record['level']}`;
  const extra = Object.fromEntries(Object.entries(record).filter(([key]) => !recordKeys.has(key)));
  const fields = Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : '';
  return `${time}${level} ${typeof record['msg'] === 'string' ? record['msg'] : ''}${fields}`;
}

export class LogTail {
  private readonly kept: string[] = [];
  private bytes = 0;
  private partial = '';
  private versionValue = 0;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private readonly maxLineChars: number;
  private readonly format: (line: string) => string;

  constructor(options: LogTailOptions = {}) {
    this.maxLines = options.maxLines ?? 50;
    this.maxBytes = options.maxBytes ?? 16 * 1024;
    this.maxLineChars = options.maxLineChars ?? 2000;
    this.format = options.format ?? ((line) => line);
  }

  /** Changes whenever a line is added. */
  get version(): number {
    return this.versionValue;
  }

  /** A chunk of output: complete lines are kept, an unfinished last line waits for the next chunk. */
  push(text: string): void {
    const parts = (this.partial + text).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.append(this.format(line));
    if (this.partial.length > this.maxLineChars) {
      this.append(this.format(this.partial));
      this.partial = '';
    }
  }

  /** One whole line (a carriage-return progress bar keeps only its last state). */
  append(line: string): void {
    const text = (line.split('\r').at(-1) ?? '').trimEnd();
    if (text === '') return;
    const cut = text.length > this.maxLineChars ? `${text.slice(0, this.maxLineChars - 1)}…` : text;
    this.kept.push(cut);
    this.bytes += Buffer.byteLength(cut);
    while (this.kept.length > this.maxLines || (this.bytes > this.maxBytes && this.kept.length > 1)) {
      this.bytes -= Buffer.byteLength(this.kept.shift() ?? '');
    }
    this.versionValue += 1;
  }

  /** The kept lines, oldest first (the unfinished last line is not included). */
  lines(): string[] {
    return [...this.kept];
  }
}
