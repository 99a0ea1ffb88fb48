import { partialSuffix } from './reasoning-splitter.js';

/**
 * Applies OpenAI `stop` strings to streamed text: text that could still become a stop string is held
 * back; when one matches, everything from it on is dropped and generation must end.
 */
export class StopMatcher {
  private held = '';

  constructor(private readonly stops: readonly string[]) {}

  /** Returns the text safe to emit now and whether a stop string was hit. */
  push(text: string): { text: string; stopped: boolean } {
    if (this.stops.length === 0) return { text, stopped: false };
    const buffer = this.held + text;
    let first = -1;
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    if (first >= 0) {
      this.held = '';
      return { text: buffer.slice(0, first), stopped: true };
    }
    const keep = Math.max(0, ...this.stops.map((stop) => partialSuffix(buffer, stop)));
    this.held = buffer.slice(buffer.length - keep);
    return { text: buffer.slice(0, buffer.length - keep), stopped: false };
  }

  /** The text held back when generation ends for another reason. */
  end(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }
}
