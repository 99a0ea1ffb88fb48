import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseUsageRelay } from '../../src/gateway/streaming/sse-usage-relay.js';

/**
 * Property tests for the SSE usage relay: the engine's byte stream is hostile input (any split into
 * reads, any bytes), and the relay must neither throw nor depend on where the reads were cut.
 */

type Event =
  | { kind: 'text'; key: 'content' | 'reasoning_content' | 'text'; value: string; term: string }
  | { kind: 'comment'; value: string; term: string }
  | {
      kind: 'usage';
      prompt: number;
      completion: number;
      withChoices: boolean;
      spaced: boolean;
      term: string;
    };

const terminator = fc.constantFrom('\n\n', '\r\n\r\n');
/** Any unicode text, astral characters (4-byte UTF-8) included. */
const unicodeText = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string());

const textEvent = fc.record({
  kind: fc.constant('text' as const),
  key: fc.constantFrom('content' as const, 'reasoning_content' as const, 'text' as const),
  value: unicodeText,
  term: terminator,
});
const commentEvent = fc.record({
  kind: fc.constant('comment' as const),
  // A comment is one line: no line breaks in it.
  value: unicodeText.map((s) => s.replace(/[\r\n]/g, ' ')),
  term: terminator,
});
const usageEvent = fc.record({
  kind: fc.constant('usage' as const),
  prompt: fc.nat({ max: 1_000_000 }),
  completion: fc.nat({ max: 1_000_000 }),
  withChoices: fc.boolean(),
  spaced: fc.boolean(),
  term: terminator,
});

function encode(event: Event): string {
  switch (event.kind) {
    case 'text': {
      const delta = { [event.key]: event.value };
      return `data: ${JSON.stringify({ choices: [{ index: 0, delta }] })}${event.term}`;
    }
    case 'comment':
      return `:${event.value}${event.term}`;
    case 'usage': {
      const choices = event.withChoices ? '[{"index":0,"delta":{}}]' : '[]';
      const usage = `{"prompt_tokens":${event.prompt},"completion_tokens":${event.completion},"total_tokens":${event.prompt + event.completion}}`;
      const body = event.spaced
        ? `{"choices": ${choices}, "usage": ${usage}}`
        : `{"choices":${choices},"usage":${usage}}`;
      return `data: ${body}${event.term}`;
    }
  }
}

/** A well-formed engine stream: events, then `data: [DONE]`. */
const streamArb = fc.record({
  events: fc.array(fc.oneof(textEvent, textEvent, commentEvent, usageEvent), { maxLength: 12 }),
  doneTerm: terminator,
  clientWantsUsage: fc.boolean(),
  /** Every line ends in a lone CR (SSE allows LF, CRLF and CR). */
  crLines: fc.boolean(),
});

/** The stream's bytes; its events' only raw line breaks are their own (JSON escapes the rest). */
function encodeStream(events: Event[], doneTerm: string, crLines = false): string {
  const text = events.map(encode).join('') + `data: [DONE]${doneTerm}`;
  return crLines ? text.replace(/\r\n|\n/g, '\r') : text;
}

/** Read boundaries as fractions of the stream length (so they can fall anywhere, mid-character too). */
const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 16 });

function run(stream: Buffer, cuts: number[], clientWantsUsage: boolean) {
  const relay = new SseUsageRelay(clientWantsUsage);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    out.push(relay.push(stream.subarray(from, cut), 1000));
    from = cut;
  }
  out.push(relay.finish());
  return {
    bytes: Buffer.concat(out),
    usage: relay.usage,
    textChunks: relay.textChunks,
    sawDone: relay.sawDone,
    firstTextAtMs: relay.firstTextAtMs,
  };
}

const toOffsets = (fractions: number[], length: number): number[] =>
  fractions.map((f) => Math.min(length, Math.floor(f * (length + 1)))).sort((a, b) => a - b);

describe('SseUsageRelay (properties)', () => {
  it('gives the same bytes, usage, text count and [DONE] however the stream is cut into reads', () => {
    fc.assert(
      fc.property(streamArb, cutsArb, ({ events, doneTerm, clientWantsUsage, crLines }, fractions) => {
        const stream = Buffer.from(encodeStream(events, doneTerm, crLines));
        const whole = run(stream, [], clientWantsUsage);
        const split = run(stream, toOffsets(fractions, stream.length), clientWantsUsage);
        expect(split.bytes.equals(whole.bytes)).toBe(true);
        expect(split.usage).toEqual(whole.usage);
        expect(split.textChunks).toBe(whole.textChunks);
        expect(split.sawDone).toBe(whole.sawDone);
        expect(split.firstTextAtMs).toBe(whole.firstTextAtMs);
      }),
      { numRuns: 400 },
    );
  });

  it('relays what the model says: events unchanged, the unrequested usage-only chunk dropped, [DONE] last', () => {
    fc.assert(
      fc.property(streamArb, cutsArb, ({ events, doneTerm, clientWantsUsage, crLines }, fractions) => {
        const stream = Buffer.from(encodeStream(events, doneTerm, crLines));
        const result = run(stream, toOffsets(fractions, stream.length), clientWantsUsage);
        const dropped = (e: Event): boolean => e.kind === 'usage' && !e.withChoices && !clientWantsUsage;
        const expected = encodeStream(
          events.filter((e) => !dropped(e)),
          '',
          crLines,
        ).replace(/data: \[DONE\]$/, 'data: [DONE]\n\n');
        expect(result.bytes.toString('utf8')).toBe(expected);
        expect(result.sawDone).toBe(true);
        const lastUsage = events.filter((e) => e.kind === 'usage').at(-1);
        expect(result.usage).toEqual(
          lastUsage ? { promptTokens: lastUsage.prompt, completionTokens: lastUsage.completion } : null,
        );
        const texts = events.filter((e) => e.kind === 'text' && e.value !== '').length;
        expect(result.textChunks).toBe(texts);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same result when every byte is its own read', () => {
    fc.assert(
      fc.property(streamArb, ({ events, doneTerm, clientWantsUsage, crLines }) => {
        const stream = Buffer.from(encodeStream(events, doneTerm, crLines));
        const whole = run(stream, [], clientWantsUsage);
        const cuts = Array.from({ length: stream.length }, (_, i) => i);
        const bytewise = run(stream, cuts, clientWantsUsage);
        expect(bytewise.bytes.equals(whole.bytes)).toBe(true);
        expect(bytewise.usage).toEqual(whole.usage);
        expect(bytewise.textChunks).toBe(whole.textChunks);
      }),
      { numRuns: 40 },
    );
  });

  it('never throws on arbitrary bytes, and does not depend on where the reads were cut', () => {
    // Random bytes, and random bytes salted with the tokens the relay looks for.
    const token = fc.constantFrom(
      'data:',
      'data: ',
      '\n',
      '\r\n',
      '\n\n',
      '\r\n\r\n',
      '\r',
      '\r\r',
      '[DONE]',
      '"usage":{',
      '"usage": {',
      '"prompt_tokens":1,"completion_tokens":2}',
      '"content":"',
      '"text": "x"',
      '"choices":[]',
      '{',
      '}',
      '"',
    );
    const piece = fc.oneof(
      token,
      fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
      fc.array(piece, { maxLength: 40 }).map((parts) => Buffer.from(parts.join(''), 'latin1')),
    );
    fc.assert(
      fc.property(bytes, cutsArb, fc.boolean(), (stream, fractions, clientWantsUsage) => {
        const result = run(stream, toOffsets(fractions, stream.length), clientWantsUsage);
        const whole = run(stream, [], clientWantsUsage);
        expect(result.bytes.equals(whole.bytes)).toBe(true);
        expect(result.usage).toEqual(whole.usage);
        expect(result.textChunks).toBe(whole.textChunks);
        expect(result.sawDone).toBe(whole.sawDone);
      }),
      { numRuns: 500 },
    );
  });
});
