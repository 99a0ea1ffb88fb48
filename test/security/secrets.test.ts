/**
 * Secret comparison and request targets, as units: hashesEqual compares sha256 hashes with
 * crypto.timingSafeEqual on 32-byte buffers (never `===`, never on anything but two hashes), secrets are
 * stored as their sha256 only; originFormTarget keeps a request on this server whatever target it names,
 * and resolveTarget gives the path a server routes on and forwards, never a host (both cached).
 */
import * as crypto from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';

vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof crypto>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

const { hashesEqual, hashSecret } = await import('../../src/http/bearer-secret.js');
const { newSecret } = await import('../../src/control/server/secrets.js');
const { originFormTarget, resolveTarget } = await import('../../src/http/request-target.js');

describe('hashesEqual', () => {
  const spy = vi.mocked(crypto.timingSafeEqual);
  afterEach(() => spy.mockClear());

  it('compares two sha256 hashes with timingSafeEqual on 32-byte buffers', () => {
    const secret = newSecret('admin');
    const hash = hashSecret(secret);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(secret);
    expect(hashesEqual(hash, hashSecret(secret))).toBe(true);
    const other = hashSecret(`${secret}x`);
    expect(hashesEqual(hash, other)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(2);
    for (const [left, right] of spy.mock.calls) {
      expect((left as Buffer).length).toBe(32);
      expect((right as Buffer).length).toBe(32);
    }
  });

  it('is false, without comparing, for anything that is not two hashes', () => {
    const hash = hashSecret('s');
    // Buffer.from('zz', 'hex') is empty: two non-hex strings must not compare equal.
    for (const [a, b] of [
      ['', ''],
      ['zz', 'yy'],
      [hash, hash.slice(0, 62)],
      [hash.toUpperCase(), hash],
      [`${hash}00`, `${hash}00`],
      [hash, 's'],
    ] as const) {
      expect({ a, b, equal: hashesEqual(a, b) }).toEqual({ a, b, equal: false });
    }
    expect(spy).not.toHaveBeenCalled();
  });

  it('makes 256-bit secrets with a prefix that says what they are', () => {
    const secrets = new Set(Array.from({ length: 100 }, () => newSecret('node')));
    expect(secrets.size).toBe(100);
    for (const secret of secrets) {
      expect(secret).toMatch(/^ef_node_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(secret.slice('ef_node_'.length), 'base64url').length).toBe(32);
    }
  });
});

describe('originFormTarget', () => {
  it('keeps paths, serves the absolute form as its path, and refuses targets that name another host', () => {
    expect(originFormTarget('/v1/chat/completions')).toBe('/v1/chat/completions');
    expect(originFormTarget('/v1/models?x=1')).toBe('/v1/models?x=1');
    expect(originFormTarget('/%2F%2Fevil/v1')).toBe('/%2F%2Fevil/v1');
    expect(originFormTarget('http://10.0.0.9:8000/v1/chat/completions')).toBe('/v1/chat/completions');
    expect(originFormTarget('HTTPS://10.0.0.9/v1/models?a=b')).toBe('/v1/models?a=b');
    for (const target of [
      undefined,
      '',
      '*',
      'v1/models',
      '10.0.0.9:443',
      '//10.0.0.9/v1/chat/completions',
      '/\\10.0.0.9/v1/chat/completions',
      '\\\\10.0.0.9/v1',
      'http://10.0.0.9//10.0.0.9/v1',
      'http://[bad',
      'file:///etc/passwd',
    ]) {
      expect({ target, result: originFormTarget(target) }).toEqual({ target, result: undefined });
    }
  });
});

describe('resolveTarget', () => {
  it('resolves dot segments and escapes, keeps the query, and drops any host the target names', () => {
    expect(resolveTarget('/v1/chat/completions')).toEqual({
      pathname: '/v1/chat/completions',
      pathAndQuery: '/v1/chat/completions',
    });
    expect(resolveTarget('/v1/x/../chat/completions?trace=1')).toEqual({
      pathname: '/v1/chat/completions',
      pathAndQuery: '/v1/chat/completions?trace=1',
    });
    expect(resolveTarget('/v1/a b')).toEqual({ pathname: '/v1/a%20b', pathAndQuery: '/v1/a%20b' });
    expect(resolveTarget('//10.0.0.9/v1/models').pathAndQuery).toBe('/v1/models');
    expect(resolveTarget(undefined)).toEqual({ pathname: '/', pathAndQuery: '/' });
  });

  it('answers the same from its cache, and stays right past the cache size', () => {
    const first = resolveTarget('/v1/models?page=1');
    expect(resolveTarget('/v1/models?page=1')).toBe(first);
    for (let i = 0; i < 3000; i++) {
      expect(resolveTarget(`/v1/models/m-${i}/../m-${i + 1}`).pathname).toBe(`/v1/models/m-${i + 1}`);
      expect(originFormTarget(`/v1/models?i=${i}`)).toBe(`/v1/models?i=${i}`);
      expect(originFormTarget(`//host-${i}/v1`)).toBeUndefined();
    }
    expect(resolveTarget('/v1/models?page=1')).toEqual(first);
    const long = `/v1/models?q=${'x'.repeat(2000)}`;
    expect(resolveTarget(long).pathAndQuery).toBe(long);
    expect(resolveTarget(long)).not.toBe(resolveTarget(long)); // not kept: worked out each time
    expect(originFormTarget(long)).toBe(long);
  });
});
