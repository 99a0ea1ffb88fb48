/**
 * What the gateway reads from an instance's answer besides relaying it (whether an error is about the
 * answer's bytes, whether a large answer starts as a JSON object, the usage at the end of an answer too
 * large to hold), and a held JSON answer given the usage the gateway counted.
 */
import { parseJsonObject, usageObject } from './openai-json.js';
import { readUsage, type TokenUsage } from './sse-usage-relay.js';

/** How much of a large answer's end is kept: engines put `usage` last. */
const tailBytes = 64 * 1024;

/** An error of undici's or llhttp's about the answer's bytes (duplicate content-length, bad chunking). */
export function isMalformedAnswer(code: unknown): boolean {
  return typeof code === 'string' && (code.startsWith('HPE_') || code.startsWith('UND_ERR_RES_'));
}

/** Whether the held start of an answer begins (after blanks) with `{`. */
export function startsAsJsonObject(held: readonly Buffer[]): boolean {
  for (const part of held) {
    for (const byte of part) {
      if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
      return byte === 0x7b;
    }
  }
  return true; // nothing but blanks yet: the end decides
}

/** The last `tailBytes` (or a little more) of an answer passed through unheld, and the usage in it. */
export class AnswerTail {
  private readonly parts: Buffer[] = [];
  private bytes = 0;

  /** Keeps `chunk` (by reference), dropping older chunks now and then. */
  keep(chunk: Buffer): void {
    const { parts } = this;
    parts.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes < 2 * tailBytes) return;
    let drop = 0;
    while (drop < parts.length - 1 && this.bytes - parts[drop]!.length >= tailBytes) {
      this.bytes -= parts[drop]!.length;
      drop += 1;
    }
    parts.splice(0, drop);
  }

  /**
   * The answer's `usage`, from its end (`"usage":{…}` as engines put it last); null when its end has
   * none. `"usage":` with its quotes unescaped is a key wherever it occurs.
   */
  usage(): TokenUsage | null {
    const text = Buffer.concat(this.parts).toString('utf8');
    const key = text.lastIndexOf('"usage":');
    if (key < 0) return null;
    const start = key + 8 + (/^\s*/.exec(text.slice(key + 8, key + 40))?.[0].length ?? 0);
    if (text[start] !== '{') return null; // `"usage": null`
    // Usage objects nest at most one level (`prompt_tokens_details`): close them by counting braces.
    let depth = 0;
    for (let i = start; i < text.length; i += 1) {
      if (text[i] === '{') depth += 1;
      else if (text[i] === '}' && --depth === 0) {
        return readUsage(parseJsonObject(text.slice(start, i + 1)));
      }
    }
    return null;
  }
}

/** A JSON answer with `usage` set to the counted one. */
export function withUsage(parsed: Record<string, unknown>, counted: TokenUsage): Buffer {
  return Buffer.from(JSON.stringify({ ...parsed, usage: usageObject(counted) }));
}
