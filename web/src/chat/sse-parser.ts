/**
 * Splits a server-sent-event byte stream, decoded to text in arbitrary pieces, into the `data:` payloads
 * of its events (several `data:` lines of one event are joined with "\n"; comments and other fields are
 * skipped). Kept free of imports so that it is tested under Node as well.
 */
export class SseParser {
  private buffer = '';
  private dataLines: string[] = [];

  /** Feeds the next piece of text; returns the payloads of the events it completed. */
  push(text: string): string[] {
    this.buffer += text;
    const events: string[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone "\r" at the end may be the first half of "\r\n": wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      if (line === '') {
        if (this.dataLines.length > 0) events.push(this.dataLines.join('\n'));
        this.dataLines = [];
      } else if (line.startsWith('data:')) {
        const value = line.slice(5);
        this.dataLines.push(value.startsWith(' ') ? value.slice(1) : value);
      }
    }
    return events;
  }

  /** The stream ended: an event that lacked its blank line still counts. */
  end(): string[] {
    const rest = this.buffer === '' ? [] : this.push('\n');
    const last = this.dataLines.length > 0 ? [this.dataLines.join('\n')] : [];
    this.dataLines = [];
    this.buffer = '';
    return [...rest, ...last];
  }
}
