import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { answerCors, corsAllows, parseCorsOrigins, type CorsOrigins } from './cors.js';
import { createHttpServer } from './create-http-server.js';
import { sendError, sendJson } from './respond.js';

describe('parseCorsOrigins', () => {
  it('takes * alone or a list of origins as browsers write them', () => {
    expect(parseCorsOrigins('*')).toBe('*');
    expect(parseCorsOrigins(' * ')).toBe('*');
    const list = parseCorsOrigins('https://Chat.Example.com, http://localhost:3000,http://[::1]:5173/');
    expect(list).toEqual(new Set(['https://chat.example.com', 'http://localhost:3000', 'http://[::1]:5173']));
  });

  it('refuses what no browser sends as an Origin, saying what is wrong', () => {
    const refusal = (value: string) => {
      try {
        parseCorsOrigins(value);
      } catch (error) {
        expect(error).toBeInstanceOf(EdgeFleetError);
        return (error as EdgeFleetError).message;
      }
      throw new Error(`"${value}" was taken`);
    };
    expect(refusal('')).toMatch(/needs \* or a list/);
    expect(refusal('*,https://a.example')).toMatch(/\* alone/);
    expect(refusal('https://a.example/app')).toMatch(/not an origin.*did you mean https:\/\/a\.example\?/);
    expect(refusal('http://localhost:80')).toMatch(/did you mean http:\/\/localhost\?/);
    expect(refusal('chat.example.com')).toMatch(/"chat\.example\.com" is not an origin/);
    expect(refusal('null')).toMatch(/not an origin/);
    expect(refusal('file:///tmp/a.html')).toMatch(/not an origin/);
  });

  it('corsAllows: any origin for *, else exactly the listed ones', () => {
    const list = parseCorsOrigins('https://a.example');
    expect(corsAllows('*', 'https://b.example')).toBe(true);
    expect(corsAllows(list, 'https://a.example')).toBe(true);
    expect(corsAllows(list, 'https://a.example:8443')).toBe(false);
    expect(corsAllows(list, 'http://a.example')).toBe(false);
  });
});

describe('answerCors on a node:http server', () => {
  const servers: { origins: CorsOrigins; url: string; close: () => void }[] = [];

  /** A /v1-like route: the CORS policy first, then a key check (401) or an answer with a routing header. */
  async function start(origins: CorsOrigins): Promise<string> {
    const server = createHttpServer((request, response) => {
      try {
        if (answerCors(request, response, origins)) return;
        if (request.headers.authorization !== 'Bearer k') {
          throw new EdgeFleetError('unauthorized', 'missing or unknown API key');
        }
        sendJson(response, 200, { ok: true }, { 'x-edgefleet-instance': 'i-1' });
      } catch (error) {
        sendError(response, error);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
    servers.push({ origins, url, close: () => server.close() });
    return url;
  }

  let listed: string;
  let any: string;
  beforeAll(async () => {
    listed = await start(parseCorsOrigins('https://chat.example'));
    any = await start('*');
  });
  afterAll(() => servers.forEach((s) => s.close()));

  const preflight = (url: string, origin: string, headers = 'authorization,content-type,x-stainless-os') =>
    fetch(url, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
    });

  it('answers an allowed origin preflight 204 without a key, echoing the headers it asked for', async () => {
    const answer = await preflight(listed, 'https://chat.example');
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe('https://chat.example');
    expect(answer.headers.get('access-control-allow-methods')).toBe('GET, POST, OPTIONS');
    expect(answer.headers.get('access-control-allow-headers')).toBe(
      'authorization,content-type,x-stainless-os',
    );
    expect(answer.headers.get('access-control-max-age')).toBe('600');
    expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
    expect(answer.headers.get('vary')).toBe('Origin, Access-Control-Request-Headers');
    // A header list that is not one (a CR, a colon) is not echoed: the default pair instead.
    const odd = await preflight(listed, 'https://chat.example', 'authorization: x');
    expect(odd.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
  });

  it("refuses another origin's preflight with 403 forbidden and no CORS headers", async () => {
    const answer = await preflight(listed, 'https://evil.example');
    expect(answer.status).toBe(403);
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    const body = (await answer.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('forbidden');
    expect(body.error.message).toContain('"https://evil.example" is not one of');
  });

  it('lets an allowed page read answers and errors with the routing headers, others get no CORS headers', async () => {
    const ok = await fetch(listed, {
      method: 'POST',
      headers: { origin: 'https://chat.example', authorization: 'Bearer k' },
      body: '{}',
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://chat.example');
    expect(ok.headers.get('access-control-expose-headers')).toContain('x-edgefleet-instance');
    expect(ok.headers.get('vary')).toBe('Origin');
    const refused = await fetch(listed, { method: 'POST', headers: { origin: 'https://chat.example' } });
    expect(refused.status).toBe(401); // the key is still checked; the page can read why
    expect(refused.headers.get('access-control-allow-origin')).toBe('https://chat.example');
    const other = await fetch(listed, {
      method: 'POST',
      headers: { origin: 'https://evil.example', authorization: 'Bearer k' },
    });
    expect(other.status).toBe(200); // not a browser's: a program may send any Origin and has the key
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('vary')).toBe('Origin'); // every answer: a cache must not mix origins
    const program = await fetch(listed, { method: 'POST', headers: { authorization: 'Bearer k' } });
    expect(program.headers.get('access-control-allow-origin')).toBeNull();
    expect(program.headers.get('vary')).toBe('Origin');
  });

  it('with *: any origin and every answer, with * and no Vary', async () => {
    const answer = await preflight(any, 'https://anywhere.example');
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
    const ok = await fetch(any, {
      method: 'POST',
      headers: { origin: 'https://anywhere.example', authorization: 'Bearer k' },
    });
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    expect(ok.headers.get('vary')).toBeNull();
    // Public: said to every answer, Origin or not.
    const program = await fetch(any, { method: 'POST', headers: { authorization: 'Bearer k' } });
    expect(program.headers.get('access-control-allow-origin')).toBe('*');
  });
});
