import { describe, expect, it } from 'vitest';
import { copyEndToEndHeaders, endToEndRequestHeaders, upstreamTarget, upstreamUrl } from './upstream-pool.js';

describe('endToEndRequestHeaders', () => {
  it("drops hop-by-hop headers and the client's authorization, whatever their case, and keeps the rest as sent", () => {
    const raw = [
      'Host', 'gateway:8080',
      'Connection', 'keep-alive',
      'Keep-Alive', 'timeout=5',
      'Content-Length', '42',
      'Transfer-Encoding', 'chunked',
      'Authorization', 'Bearer client-key',
      'AUTHORIZATION', 'Bearer another',
      'Content-Type', 'application/json',
      'X-Trace', 'a',
      'x-trace', 'b',
      'TE', 'trailers',
      'Expect', '100-continue',
      'Origin', 'https://chat.example',
      'User-Agent', 'OpenAI/JS 5',
    ]; // prettier-ignore
    expect(endToEndRequestHeaders(raw)).toEqual([
      'Content-Type', 'application/json',
      'X-Trace', 'a',
      'x-trace', 'b',
      'User-Agent', 'OpenAI/JS 5',
    ]); // prettier-ignore
    expect(endToEndRequestHeaders([])).toEqual([]);
  });

  it('agrees with the header-object copy on which headers pass', () => {
    const headers = { connection: 'close', 'content-type': 'application/json', 'x-a': '1', upgrade: 'h2c' };
    const raw = Object.entries(headers).flat();
    const fromObject = Object.keys(copyEndToEndHeaders(headers, {}));
    const fromRaw = endToEndRequestHeaders(raw).filter((_, i) => i % 2 === 0);
    expect(fromRaw).toEqual(fromObject);
    expect(fromRaw).toEqual(['content-type', 'x-a']);
  });

  it("does not relay an instance's CORS headers (the gateway's --cors-origins decides)", () => {
    const answer = {
      'content-type': 'text/event-stream',
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
      'x-request-id': 'r1',
      'content-length': '5',
    };
    expect(copyEndToEndHeaders(answer, {}, 'content-length')).toEqual({
      'content-type': 'text/event-stream',
      'x-request-id': 'r1',
      'content-length': '5',
    });
  });
});

describe('upstreamTarget and upstreamUrl', () => {
  it('split an instance URL into its origin and path prefix, and put paths under the prefix', () => {
    expect(upstreamTarget('http://10.0.0.5:8000')).toEqual({ origin: 'http://10.0.0.5:8000', basePath: '' });
    expect(upstreamTarget('https://llm.example/team-a/')).toEqual({
      origin: 'https://llm.example',
      basePath: '/team-a',
    });
    expect(upstreamUrl('https://llm.example/team-a', '/health').href).toBe(
      'https://llm.example/team-a/health',
    );
    expect(upstreamUrl('http://10.0.0.5:8000/', '/tokenize').href).toBe('http://10.0.0.5:8000/tokenize');
  });
});
