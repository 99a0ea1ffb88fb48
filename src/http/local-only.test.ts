import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { isLoopbackHost, refuseForeignBrowserRequest } from './local-only.js';

const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

/** The refusal's message for these headers, or null when the request may go on. */
function refusal(headers: Record<string, string>, tls = false): string | null {
  try {
    refuseForeignBrowserRequest(request(headers), tls);
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(EdgeFleetError);
    expect((error as EdgeFleetError).code).toBe('forbidden');
    return (error as EdgeFleetError).message;
  }
}

describe('refuseForeignBrowserRequest (a keyless server on loopback)', () => {
  it('takes loopback names and addresses in Host, with a port or without', () => {
    for (const host of [
      'localhost',
      'localhost:8080',
      'LOCALHOST:1',
      '127.0.0.1:8080',
      '127.9.8.7',
      '[::1]:8080',
      '[::1]',
    ])
      expect(isLoopbackHost(host), host).toBe(true);
    const others = [
      'evil.example:8080',
      'localhost.evil.example',
      '10.0.0.1:8080',
      '0.0.0.0:8080',
      '[::]:8080',
    ];
    for (const host of [...others, '[::ffff:7f00:1]:80', '127.0.0.1:80:80', '127.1', '', 'localhost:port'])
      expect(isLoopbackHost(host), host).toBe(false);
  });

  it('refuses a Host that is not loopback (DNS rebinding), saying why', () => {
    expect(refusal({ host: 'rebind.example:8080' })).toMatch(/not a loopback address.*DNS rebinding/);
    expect(refusal({ host: 'rebind.example:8080', origin: 'http://rebind.example:8080' })).toMatch(
      /loopback/,
    );
  });

  it("serves requests without Origin (programs) and from the server's own origin (its dashboard)", () => {
    expect(refusal({ host: '127.0.0.1:8080' })).toBeNull();
    expect(refusal({ host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' })).toBeNull();
    expect(refusal({ host: 'localhost:8080', origin: 'http://LOCALHOST:8080' })).toBeNull();
    expect(refusal({ host: '[::1]:8080', origin: 'http://[::1]:8080' })).toBeNull();
    expect(refusal({ host: 'localhost', origin: 'http://localhost:80' })).toBeNull();
    expect(refusal({ host: '127.0.0.1:8443', origin: 'https://127.0.0.1:8443' }, true)).toBeNull();
    expect(refusal({})).toBeNull(); // HTTP/1.0 without Host: no browser
  });

  it('refuses any other Origin: other sites, other local ports and schemes, null, junk', () => {
    const host = '127.0.0.1:8080';
    for (const origin of [
      'http://evil.example',
      'http://127.0.0.1:3000',
      'http://localhost:8080', // the same server under another name is another origin
      'https://127.0.0.1:8080',
      'null',
      'not a url',
    ]) {
      expect(refusal({ host, origin }), origin).toMatch(
        /^cross-origin request refused: Origin ".*" is not this server \(http:\/\/127\.0\.0\.1:8080\)/,
      );
    }
    expect(refusal({ host: '127.0.0.1:8443', origin: 'http://127.0.0.1:8443' }, true)).toMatch(
      /cross-origin/,
    );
    expect(refusal({ origin: 'http://127.0.0.1:8080' })).toMatch(/cross-origin/);
  });
});
