import { describe, expect, it } from 'vitest';
import { readUsage, SseUsageRelay } from './sse-usage-relay.js';

const events = [
  'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n',
  'data: {"choices":[{"index":0,"delta":{"reasoning_content":"思考"}}]}\n\n',
  'data: {"choices":[{"index":0,"delta":{"content": "héllo"}}],"usage":null}\r\n\r\n',
  ': a comment line\n\n',
  'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}\n\n',
  'data: [DONE]\n\n',
];
const stream = Buffer.from(events.join(''));

/** Runs the whole stream through a relay cut into reads at the given byte offsets. */
function relay(cuts: number[], clientWantsUsage: boolean, stream = Buffer.from(events.join(''))) {
  const r = new SseUsageRelay(clientWantsUsage);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    out.push(r.push(stream.subarray(from, cut), from));
    from = cut;
  }
  out.push(r.finish());
  return { text: Buffer.concat(out).toString('utf8'), relay: r };
}

describe('SseUsageRelay', () => {
  it('gives the same bytes and the same measurements however the stream is cut into reads', () => {
    const whole = relay([], false);
    const expected = events.filter((_, i) => i !== 4).map((e) => e.replace(',"usage":null', ''));
    expect(whole.text).toBe(expected.join(''));
    expect(whole.relay.usage).toEqual({ promptTokens: 7, completionTokens: 2 });
    expect(whole.relay.textChunks).toBe(2);
    for (let cut = 1; cut < stream.length; cut++) {
      const split = relay([cut], false);
      expect(split.text).toBe(whole.text);
      expect(split.relay.usage).toEqual(whole.relay.usage);
      expect(split.relay.textChunks).toBe(2);
    }
    // Every byte its own read, across the multi-byte characters too.
    const bytewise = relay(
      Array.from({ length: stream.length - 1 }, (_, i) => i + 1),
      false,
    );
    expect(bytewise.text).toBe(whole.text);
  });

  it('reads a stream whose lines end in a lone CR (as SSE allows) the same, however it is cut', () => {
    const crEvents = events.map((e) => e.replace(/\r\n|\n/g, '\r'));
    const crStream = Buffer.from(crEvents.join(''));
    const expected = crEvents.filter((_, i) => i !== 4).map((e) => e.replace(',"usage":null', ''));
    for (let cut = 0; cut < crStream.length; cut++) {
      const split = relay(cut === 0 ? [] : [cut], false, crStream);
      // finish() ends the stream with its own [DONE] line (LF-ended: a client takes either).
      expect(split.text).toBe(expected.slice(0, -1).join('') + 'data: [DONE]\n\n');
      expect(split.relay.usage).toEqual({ promptTokens: 7, completionTokens: 2 });
      expect(split.relay.textChunks).toBe(2);
      expect(split.relay.sawDone).toBe(true);
    }
    // A CR that ends a read may be a CRLF's first half: the next read decides.
    const r = new SseUsageRelay(false);
    expect(r.push(Buffer.from('data: {"choices":[]}\r'), 0).length).toBe(0);
    expect(r.push(Buffer.from('\n\r\ndata: [DONE]\r\n\r\n'), 0).toString()).toBe(
      'data: {"choices":[]}\r\n\r\n',
    );
    expect(r.sawDone).toBe(true);
  });

  it('passes the usage chunk when the client asked for it, and holds [DONE] until finish()', () => {
    const r = new SseUsageRelay(true);
    const forwarded = r.push(stream, 5).toString('utf8');
    expect(forwarded).toContain('"prompt_tokens":7');
    expect(forwarded).not.toContain('[DONE]');
    expect(r.firstTextAtMs).toBe(5);
    expect(r.finish().toString('utf8')).toBe('data: [DONE]\n\n');
  });

  it('cuts the "usage": null of each chunk out when the client did not ask for usage', () => {
    const cases: [string, string][] = [
      ['data: {"id":"a","usage":null}\n\n', 'data: {"id":"a"}\n\n'],
      ['data: {"usage":null,"id":"a"}\n\n', 'data: {"id":"a"}\n\n'],
      ['data: {"id": "a", "usage": null, "x": 1}\r\n\r\n', 'data: {"id": "a", "x": 1}\r\n\r\n'],
      ['data: {"id":"a",\t"usage":\tnull}\n\n', 'data: {"id":"a"}\n\n'],
      ['data: {"usage": null}\n\n', 'data: {}\n\n'],
      // Left as they are: not JSON's null; a string's escaped quotes; data on several lines; a second
      // "usage" key (only the object's own may go, and a byte scan cannot tell which that is).
      ['data: {"id":"a","usage":nullish}\n\n', ''],
      ['data: {"choices":[{"delta":{"content":"\\"usage\\":null"}}]}\n\n', ''],
      ['data: {"id":"a",\ndata: "usage":null}\n\n', ''],
      ['data: {"x":{"usage":null},"usage":null}\n\n', ''],
    ];
    for (const [event, stripped] of cases) {
      const r = new SseUsageRelay(false);
      const got = r.push(Buffer.from(event), 0).toString('utf8');
      expect(got, event).toBe(stripped || event);
      const data = got
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6));
      if (!event.includes('nullish')) expect(() => JSON.parse(data.join('\n')), event).not.toThrow();
      expect(new SseUsageRelay(true).push(Buffer.from(event), 0).toString('utf8')).toBe(event);
    }
    // Around other events, and cut into reads anywhere: the same bytes.
    const events = [
      'data: {"a":1}\n\n',
      'data: {"b":2,"usage":null}\n\n',
      'data: {"c":3}\n\n',
      'data: [DONE]\n\n',
    ];
    const whole = Buffer.from(events.join(''));
    const expected = 'data: {"a":1}\n\ndata: {"b":2}\n\ndata: {"c":3}\n\n';
    for (let cut = 0; cut <= whole.length; cut++) {
      const r = new SseUsageRelay(false);
      const got = Buffer.concat([r.push(whole.subarray(0, cut), 0), r.push(whole.subarray(cut), 0)]);
      expect(got.toString('utf8')).toBe(expected);
    }
  });

  it('reads the usage object of a chunk that also holds a nested "usage"', () => {
    const r = new SseUsageRelay(false);
    const event =
      'data: {"x":{"usage":null},"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n';
    expect(r.push(Buffer.from(event), 0).length).toBe(0); // the usage-only chunk the client did not ask for
    expect(r.usage).toEqual({ promptTokens: 3, completionTokens: 1 });
  });

  it('says nothing of [DONE] when the engine never sent it', () => {
    const r = new SseUsageRelay(false);
    r.push(Buffer.from(events[1]!), 0);
    expect(r.finish().length).toBe(0);
    expect(r.sawDone).toBe(false);
  });

  it('ignores implausible usage numbers from an engine', () => {
    const r = new SseUsageRelay(false);
    r.push(
      Buffer.from('data: {"choices":[],"usage":{"prompt_tokens":1e300,"completion_tokens":0.4}}\n\n'),
      0,
    );
    expect(r.usage).toBeNull();
  });
});

describe('readUsage', () => {
  it('takes the completion from total_tokens when completion_tokens is absent (embeddings: 0)', () => {
    expect(readUsage({ prompt_tokens: 8, total_tokens: 8 })).toEqual({
      promptTokens: 8,
      completionTokens: 0,
    });
    expect(readUsage({ prompt_tokens: 8, total_tokens: 20 })).toEqual({
      promptTokens: 8,
      completionTokens: 12,
    });
    expect(readUsage({ prompt_tokens: 8, completion_tokens: 3, total_tokens: 99 })).toEqual({
      promptTokens: 8,
      completionTokens: 3,
    });
    expect(readUsage({ prompt_tokens: 8 })).toBeNull(); // what it generated is not known
    expect(readUsage({ prompt_tokens: 8, total_tokens: 5 })).toBeNull();
  });

  it('marks a stream with an error event failed and sends no [DONE] after it', () => {
    const r = new SseUsageRelay(false);
    const error = 'data:  { "error": {"message": "boom"}}\n\n';
    const out = r.push(Buffer.from(`${events[0]}${error}data: [DONE]\n\n`), 0).toString('utf8');
    expect(out).toBe(`${events[0]}${error}`);
    expect(r.sawError).toBe(true);
    expect(r.finish().toString()).toBe('');
    // A chunk that only mentions "error" in its text is no error event.
    const fine = new SseUsageRelay(false);
    fine.push(Buffer.from('data: {"choices":[{"delta":{"content":"\\"error\\""}}]}\n\ndata: [DONE]\n\n'), 0);
    expect(fine.sawError).toBe(false);
    expect(fine.finish().toString()).toBe('data: [DONE]\n\n');
  });

  it('relays nothing after [DONE], not even an unfinished line, and holds none of it', () => {
    const r = new SseUsageRelay(false);
    const out = r.push(Buffer.from(`${events[0]}data: [DONE]\n\n: ping`), 0);
    expect(out.toString()).toBe(events[0]);
    expect(r.push(Buffer.from('x'.repeat(5 * 1024 * 1024)), 1).length).toBe(0);
    expect(r.overflow).toBe(false);
    expect(r.finish().toString()).toBe('data: [DONE]\n\n');
  });

  it('ends an event split over many reads once, whichever read holds its blank line', () => {
    const event = 'data: {"choices":[{"delta":{"content":"abc"}}]}\r\n\r\n';
    for (const sizes of [
      [1, 1, 1],
      [3, 2, 1],
      [event.length - 2, 1, 1],
      [event.length - 3, 1, 2],
    ]) {
      const r = new SseUsageRelay(false);
      let at = 0;
      let out = '';
      for (const size of [...sizes.slice(0, -1), event.length]) {
        out += r.push(Buffer.from(event.slice(at, at + size)), 0).toString();
        at += size;
        if (at >= event.length) break;
      }
      expect(out, JSON.stringify(sizes)).toBe(event);
    }
  });
});
