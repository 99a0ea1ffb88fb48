/**
 * Splits DeepSeek-R1 style output into reasoning (between `<think>` and `</think>`) and content, as
 * DeepSeek's API does with `reasoning_content`. Works incrementally on streamed text: a tag split across
 * pieces is held back until it is complete or ruled out.
 */
const OPEN = '<think>';
const CLOSE = '</think>';

export interface SplitPiece {
  reasoning: string;
  content: string;
}

export class ReasoningSplitter {
  private state: 'start' | 'reasoning' | 'content';
  private held = '';
  /** At the start of a part (reasoning or content): leading whitespace is dropped. */
  private atPartStart = true;
  /** Whitespace at the end of the reasoning so far, emitted only if more reasoning follows. */
  private pendingSpace = '';

  /** `startInReasoning`: the prompt already opened `<think>` (newer R1 templates end with it). */
  constructor(startInReasoning = false) {
    this.state = startInReasoning ? 'reasoning' : 'start';
  }

  push(text: string): SplitPiece {
    const out: SplitPiece = { reasoning: '', content: '' };
    let rest = this.held + text;
    this.held = '';
    while (rest.length > 0) {
      if (this.state === 'start') {
        const trimmed = rest.replace(/^\s+/, '');
        if (trimmed.length === 0) {
          this.held = rest;
          return out;
        }
        if (trimmed.startsWith(OPEN)) {
          this.state = 'reasoning';
          this.atPartStart = true;
          rest = trimmed.slice(OPEN.length);
          continue;
        }
        if (OPEN.startsWith(trimmed)) {
          this.held = rest;
          return out;
        }
        // No think block: the answer is passed on as the model wrote it, leading whitespace included
        // (code that starts with an indented line, markdown that starts with a blank line).
        this.state = 'content';
        this.atPartStart = false;
        continue;
      }
      const tag = this.state === 'reasoning' ? CLOSE : OPEN;
      const at = this.state === 'reasoning' ? rest.indexOf(CLOSE) : -1;
      if (at >= 0) {
        this.append(out, rest.slice(0, at));
        this.state = 'content';
        this.atPartStart = true;
        this.pendingSpace = '';
        rest = rest.slice(at + tag.length);
        continue;
      }
      const keep = this.state === 'reasoning' ? partialSuffix(rest, CLOSE) : 0;
      this.append(out, rest.slice(0, rest.length - keep));
      this.held = rest.slice(rest.length - keep);
      return out;
    }
    return out;
  }

  /** Flushes whatever is held back at the end of generation. */
  end(): SplitPiece {
    const out: SplitPiece = { reasoning: '', content: '' };
    const rest = this.held;
    this.held = '';
    if (this.state === 'start') {
      this.state = 'content';
      this.atPartStart = false;
    }
    this.append(out, rest);
    return out;
  }

  /**
   * Adds text to the current part. Like DeepSeek's API, the parts of a think block's answer come without
   * surrounding blank lines: leading whitespace of the reasoning and of the content after `</think>` is
   * dropped, and reasoning's trailing whitespace is held until more reasoning follows (so it is dropped
   * before `</think>`). An answer without a think block is not touched.
   */
  private append(out: SplitPiece, text: string): void {
    let piece = text;
    if (this.atPartStart) {
      piece = piece.replace(/^\s+/, '');
      if (piece === '') return;
      this.atPartStart = false;
    }
    if (this.state !== 'reasoning') {
      out.content += piece;
      return;
    }
    const body = piece.replace(/\s+$/, '');
    if (body === '') {
      this.pendingSpace += piece;
      return;
    }
    out.reasoning += this.pendingSpace + body;
    this.pendingSpace = piece.slice(body.length);
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of `tag`. */
export function partialSuffix(text: string, tag: string): number {
  for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) {
    if (text.endsWith(tag.slice(0, length))) return length;
  }
  return 0;
}

/** True when the rendered prompt leaves a `<think>` block open, so generation starts inside reasoning. */
export function promptOpensThink(prompt: string): boolean {
  return prompt.lastIndexOf(OPEN) > prompt.lastIndexOf(CLOSE);
}
