/**
 * Relays an engine's server-sent events to the client while reading what the gateway meters: the time
 * of the first generated text and the `usage` of the last chunk. It works on the engine's bytes: events
 * pass through unchanged (one write per read), only an event that carries a `usage` object is parsed,
 * and generated text is recognised by a byte scan. The final `data: [DONE]` is held back until
 * `finish()`, so the gateway can journal the request before the client sees the stream complete. A
 * usage-only chunk the client did not ask for is dropped, and so is the `"usage": null` of every chunk
 * (the engine's answer to `include_usage`, which the gateway asked for). Events with generated text are kept (by
 * reference, up to 4 MiB) so that an answer whose engine reported no usage can be counted afterwards, and
 * `finish()` can then add the counted usage as a last chunk. An error event (`data: {"error":…}`, which
 * vLLM and SGLang send when generation fails mid-stream, followed by their `[DONE]`) passes to the client
 * and marks the stream failed: `finish()` then sends no `[DONE]`. Nothing after `[DONE]` is relayed.
 * Lines may end in LF, CRLF or (as SSE allows) a lone CR; which one a stream uses is read from its first
 * line break.
 */
import { generatedTextOf, parseJsonObject, usageObject } from './openai-json.js';
import { maxUsageTokens } from '../../spec/usage-event.js';

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

const LF = 0x0a;
const CR = 0x0d;
const doneEvent = Buffer.from('data: [DONE]\n\n');
const usageKey = Buffer.from('"usage":');
const nullValue = Buffer.from('null');
const errorKey = Buffer.from('"error"');
const textKeys = ['"content":', '"reasoning_content":', '"text":'].map((k) => Buffer.from(k));
/** Text events kept for counting an answer without usage; a longer answer falls back to an estimate. */
const maxKeptTextBytes = 4 * 1024 * 1024;
/**
 * The longest event relayed. Engines send a chunk per token or a few (a tool call's arguments at most);
 * a longer one is a broken engine, and holding it whole would let one stream take the gateway's memory.
 */
export const maxEventBytes = 4 * 1024 * 1024;
const empty = Buffer.alloc(0);

export class SseUsageRelay {
  usage: TokenUsage | null = null;
  /** When the first chunk with generated text passed (ms, the caller's clock). */
  firstTextAtMs: number | null = null;
  /** Chunks that carried generated text (the estimate when the engine reports no usage). */
  textChunks = 0;
  sawDone = false;
  /** The engine sent an error event: the stream failed, whatever follows it. */
  sawError = false;
  /** The engine sent an event longer than `maxEventBytes`: the stream cannot be relayed. */
  overflow = false;
  /** The reads of an unfinished event. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private textEvents: Buffer[] | null = [];
  private textBytes = 0;
  /** The byte that ends the stream's lines (LF for LF and CRLF), null until its first line break. */
  private lineBreak: typeof LF | typeof CR | null = null;

  /** @param clientWantsUsage the client set `stream_options.include_usage` itself. */
  constructor(private readonly clientWantsUsage: boolean) {}

  /**
   * The complete events of `chunk` (and of earlier partial reads) to send to the client now. A read that
   * completes no event is only kept (no copy of what was kept before), so an event that arrives in many
   * reads costs its length once; `overflow` is set, and nothing more is taken, once an unfinished event
   * is longer than `maxEventBytes`.
   */
  push(chunk: Buffer, nowMs: number): Buffer {
    if (this.overflow || this.sawDone) return empty; // nothing after [DONE] is relayed
    this.lineBreak ??= lineBreakOf(chunk, this.pendingBytes > 0 ? lastBytes(this.pending, 1)[0] : undefined);
    const lineBreak = this.lineBreak;
    let data = chunk;
    if (this.pendingBytes > 0) {
      // Only the new bytes and the seam can end the unfinished event (the kept bytes hold no blank
      // line, and one is at most 3 bytes long).
      const ends =
        eventEnd(chunk, 0, lineBreak) >= 0 ||
        eventEnd(Buffer.concat([lastBytes(this.pending, 2), chunk.subarray(0, 2)]), 0, lineBreak) >= 0;
      if (!ends) {
        this.keep(chunk);
        return empty;
      }
      this.pending.push(chunk);
      data = Buffer.concat(this.pending, this.pendingBytes + chunk.length);
      this.pending = [];
      this.pendingBytes = 0;
    }
    const out: Buffer[] = [];
    let runStart = 0; // start of the run of events forwarded unchanged
    let at = 0;
    for (;;) {
      const end = eventEnd(data, at, lineBreak);
      if (end < 0) break;
      const event = data.subarray(at, end);
      const forward = this.forward(event, nowMs);
      if (forward === null) {
        if (at > runStart) out.push(data.subarray(runStart, at));
        runStart = end;
      } else if (forward !== event) {
        // A cut: the run ends before it and the next one starts after it.
        out.push(data.subarray(runStart, at + forward[0]));
        runStart = at + forward[1];
      }
      at = end;
    }
    if (at > runStart) out.push(data.subarray(runStart, at));
    if (at < data.length && !this.sawDone) this.keep(Buffer.from(data.subarray(at)));
    return out.length === 1 ? out[0]! : out.length === 0 ? empty : Buffer.concat(out);
  }

  /** Keeps the start of an unfinished event, up to `maxEventBytes`. */
  private keep(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes > maxEventBytes) {
      this.overflow = true;
      this.pending = [];
      this.pendingBytes = 0;
    }
  }

  /**
   * What is left to send when the engine ended its stream normally: a partial event and `[DONE]`, and
   * before it, when the engine sent no usage and the client asked for it, a usage chunk with `counted`.
   */
  finish(counted?: TokenUsage | null): Buffer {
    const rest = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.sawDone || this.sawError) return rest;
    if (!counted || this.usage || !this.clientWantsUsage) return Buffer.concat([rest, doneEvent]);
    return Buffer.concat([
      rest,
      Buffer.from(`data: ${JSON.stringify(this.usageChunk(counted))}\n\n`),
      doneEvent,
    ]);
  }

  /** The generated text of the stream (all choices, reasoning included), or null when not all was kept. */
  generatedText(): string | null {
    if (this.textEvents === null) return null;
    return this.textEvents.map((event) => generatedTextOf(parseEvent(event), 'delta')).join('');
  }

  /** A usage-only chunk shaped like the stream's own chunks (id, object, created and model of the first). */
  private usageChunk(counted: TokenUsage): Record<string, unknown> {
    const first = this.textEvents?.[0] ? parseEvent(this.textEvents[0]) : null;
    const pick = (key: string) => (first && key in first ? { [key]: first[key] } : {});
    return {
      ...pick('id'),
      ...pick('object'),
      ...pick('created'),
      ...pick('model'),
      choices: [],
      usage: usageObject(counted),
    };
  }

  /**
   * What to forward of one complete event (its bytes include the blank line that ends it): the event
   * itself, all but the range of its `"usage": null` (the client did not ask for usage; the gateway
   * did), or null to drop it.
   */
  private forward(event: Buffer, nowMs: number): Buffer | [number, number] | null {
    if (this.sawDone) return null; // nothing follows the end of a stream
    const data = dataOffset(event, this.lineBreak ?? LF);
    if (data < 0) return event;
    if (event.subarray(data, data + 6).toString('latin1') === '[DONE]') {
      this.sawDone = true;
      return null;
    }
    if (isErrorData(event, data)) this.sawError = true;
    if (textKeys.some((key) => hasNonEmptyString(event, key))) {
      this.textChunks += 1;
      this.firstTextAtMs ??= nowMs;
      if (this.textEvents !== null) {
        this.textBytes += event.length;
        if (this.textBytes <= maxKeptTextBytes) this.textEvents.push(event);
        else this.textEvents = null;
      }
    }
    // `"usage":` is a key wherever it occurs: inside a JSON string its quotes would be escaped.
    const key = event.indexOf(usageKey);
    if (key < 0) return event;
    const value = skipBlanks(event, key + usageKey.length);
    const single = event.indexOf(usageKey, key + usageKey.length) < 0;
    if (single && event[value] !== 0x7b /* { */) {
      return this.clientWantsUsage
        ? event
        : (withoutNullUsage(event, data, key, value, this.lineBreak ?? LF) ?? event);
    }
    const parsed = parseEvent(event);
    if (!parsed) return event;
    const usage = readUsage(parsed['usage']);
    if (usage) this.usage = usage;
    const noChoices = !Array.isArray(parsed['choices']) || parsed['choices'].length === 0;
    return usage && noChoices && !this.clientWantsUsage ? null : event;
  }
}

/**
 * OpenAI's `usage` object, or null when it is absent or malformed. Without `completion_tokens` (an
 * embeddings answer's `{prompt_tokens, total_tokens}`) the completion is `total_tokens - prompt_tokens`.
 */
export function readUsage(value: unknown): TokenUsage | null {
  if (typeof value !== 'object' || value === null) return null;
  const fields = value as Record<string, unknown>;
  const { prompt_tokens: prompt, total_tokens: total } = fields;
  const completion =
    fields['completion_tokens'] ??
    (typeof total === 'number' && typeof prompt === 'number' ? total - prompt : undefined);
  if (typeof prompt !== 'number' || typeof completion !== 'number') return null;
  const promptTokens = Math.round(prompt);
  const completionTokens = Math.round(completion);
  // An engine that reports nonsense (1e300 tokens) must not reach usage records and token budgets.
  const plausible = (n: number) => Number.isSafeInteger(n) && n >= 0 && n <= maxUsageTokens;
  if (!plausible(promptTokens) || !plausible(completionTokens)) return null;
  return { promptTokens, completionTokens };
}

/** The JSON object of an event's data, or null. */
function parseEvent(event: Buffer): Record<string, unknown> | null {
  return parseJsonObject(eventData(event));
}

/** The last `count` bytes of `parts` taken together (fewer when they hold fewer). */
function lastBytes(parts: readonly Buffer[], count: number): Buffer {
  const tail: Buffer[] = [];
  for (let i = parts.length - 1, need = count; i >= 0 && need > 0; i -= 1) {
    const part = parts[i]!;
    tail.unshift(part.subarray(Math.max(0, part.length - need)));
    need -= part.length;
  }
  return Buffer.concat(tail);
}

/**
 * The byte that ends a stream's lines, from its first line break (`previous` is the byte before
 * `chunk`): LF when it is LF or CRLF, CR when it is a lone CR; null while none has been seen, or the
 * first is a CR that ends what has been read (a CRLF's LF may follow).
 */
function lineBreakOf(chunk: Buffer, previous: number | undefined): typeof LF | typeof CR | null {
  if (previous === CR && chunk.length > 0) return chunk[0] === LF ? LF : CR;
  const lf = chunk.indexOf(LF);
  const cr = chunk.indexOf(CR);
  if (cr < 0 || (lf >= 0 && lf < cr)) return lf < 0 ? null : LF;
  if (cr + 1 === chunk.length) return null;
  return chunk[cr + 1] === LF ? LF : CR;
}

/**
 * The index just past the blank line that ends the event starting at `from`, or -1 (always -1 until
 * the stream's line break is known).
 */
function eventEnd(data: Buffer, from: number, lineBreak: typeof LF | typeof CR | null): number {
  if (lineBreak === CR) {
    for (let i = data.indexOf(CR, from); i >= 0; i = data.indexOf(CR, i + 1)) {
      if (data[i + 1] === CR) return i + 2;
    }
    return -1;
  }
  if (lineBreak === null) return -1;
  for (let i = data.indexOf(LF, from); i >= 0; i = data.indexOf(LF, i + 1)) {
    if (data[i + 1] === LF) return i + 2;
    if (data[i + 1] === CR && data[i + 2] === LF) return i + 3;
  }
  return -1;
}

/** Offset of the value of the event's first `data:` field, or -1 when it has none. */
function dataOffset(event: Buffer, lineBreak: number): number {
  let line = 0;
  while (line < event.length) {
    if (event.subarray(line, line + 5).toString('latin1') === 'data:') {
      return event[line + 5] === 0x20 ? line + 6 : line + 5;
    }
    const next = event.indexOf(lineBreak, line);
    if (next < 0) return -1;
    line = next + 1;
  }
  return -1;
}

/** The event's `data:` lines joined, as SSE defines it. */
function eventData(event: Buffer): string {
  return event
    .toString('utf8')
    .split(/\r\n|\r|\n/)
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trimStart())
    .join('\n');
}

/** Whether the event's data is a JSON object whose first member is `"error"`. */
function isErrorData(event: Buffer, data: number): boolean {
  const open = skipBlanks(event, data);
  if (event[open] !== 0x7b /* { */) return false;
  const key = skipBlanks(event, open + 1);
  return event.compare(errorKey, 0, errorKey.length, key, key + errorKey.length) === 0;
}

/** The first index from `at` that is not a space or a tab (JSON's blanks within one line). */
function skipBlanks(event: Buffer, at: number): number {
  while (event[at] === 0x20 || event[at] === 0x09) at += 1;
  return at;
}

/**
 * The range to cut from the event: the `"usage": null` member whose key starts at `key` and value at
 * `value`, with the comma that joins it to a neighbour; null (leave the event as it is) unless the value
 * is null and the event's data is one line whose bytes around the member show plainly how to cut it.
 */
function withoutNullUsage(
  event: Buffer,
  data: number,
  key: number,
  value: number,
  lineBreak: number,
): [number, number] | null {
  if (value + 4 > event.length || event.compare(nullValue, 0, 4, value, value + 4) !== 0) return null;
  // One `data:` line: nothing but the line breaks that end the event after its first line break.
  for (let i = event.indexOf(lineBreak, data); i >= 0 && i < event.length; i += 1) {
    if (event[i] !== LF && event[i] !== CR) return null;
  }
  const after = skipBlanks(event, value + 4);
  let before = key - 1;
  while (event[before] === 0x20 || event[before] === 0x09) before -= 1;
  let from: number;
  let to: number;
  if (event[before] === 0x2c /* , */ && (event[after] === 0x2c || event[after] === 0x7d) /* } */) {
    [from, to] = [before, value + 4]; // `…, "usage": null}` or `…, "usage": null, …`
  } else if (event[before] === 0x7b /* { */ && event[after] === 0x2c) {
    [from, to] = [key, after + 1]; // `{"usage": null, …`
  } else if (event[before] === 0x7b && event[after] === 0x7d) {
    [from, to] = [key, value + 4]; // `{"usage": null}`
  } else return null;
  return [from, to];
}

/** Whether `"key": "<at least one character>"` occurs in the event. */
function hasNonEmptyString(event: Buffer, key: Buffer): boolean {
  for (let at = event.indexOf(key); at >= 0; at = event.indexOf(key, at + 1)) {
    let i = at + key.length;
    while (event[i] === 0x20) i += 1;
    if (event[i] === 0x22 && event[i + 1] !== 0x22 && event[i + 1] !== undefined) return true;
  }
  return false;
}
