import { describe, expect, it } from 'vitest';
import { clientErrorResponse } from './client-errors.js';

const parserError = (code: string) => Object.assign(new Error(code), { code });

describe('clientErrorResponse', () => {
  it('says whether the headers or the whole request were too slow, and closes the connection', () => {
    const headers = clientErrorResponse(parserError('HPE_HEADERS_TIMEOUT'));
    expect(headers).toMatch(/^HTTP\/1\.1 408 /);
    expect(headers).toContain('the request headers did not arrive in time');
    // Headers in, body stalled (a Content-Length larger than what was sent): not the headers' fault.
    const body = clientErrorResponse(parserError('ERR_HTTP_REQUEST_TIMEOUT'));
    expect(body).toMatch(/^HTTP\/1\.1 408 /);
    expect(body).toContain('the request (headers and body) did not arrive in time');
    expect(body).toContain('connection: close\r\n');
    expect(clientErrorResponse(parserError('HPE_INVALID_METHOD'))).toMatch(
      /^HTTP\/1\.1 400 [^]*malformed HTTP request \(HPE_INVALID_METHOD\)/,
    );
  });
});
