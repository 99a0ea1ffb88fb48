import { describe, expect, it } from 'vitest';
import { SseParser } from '../../web/src/chat/sse-parser.js';

/** The dashboard's SSE parser (web/src/chat/sse-parser.ts), fed the way a network stream splits text. */
describe('dashboard SSE parser', () => {
  const stream =
    'data: {"a":1}\n\n: keep-alive\n\nevent: x\ndata: {"b":2}\r\n\r\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n';

  it('returns the data of each event, in order, skipping comments and other fields', () => {
    expect(new SseParser().push(stream)).toEqual(['{"a":1}', '{"b":2}', 'line1\nline2', '[DONE]']);
  });

  it('gives the same events however the text is split, even inside a CRLF', () => {
    for (let size = 1; size <= 7; size++) {
      const parser = new SseParser();
      const events: string[] = [];
      for (let at = 0; at < stream.length; at += size)
        events.push(...parser.push(stream.slice(at, at + size)));
      events.push(...parser.end());
      expect(events).toEqual(['{"a":1}', '{"b":2}', 'line1\nline2', '[DONE]']);
    }
  });

  it('keeps an unfinished event until the stream ends', () => {
    const parser = new SseParser();
    expect(parser.push('data: {"c":3}')).toEqual([]);
    expect(parser.push('\n')).toEqual([]);
    expect(parser.end()).toEqual(['{"c":3}']);
    expect(parser.end()).toEqual([]);
  });
});
