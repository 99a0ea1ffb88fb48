import { describe, expect, it } from 'vitest';
import { redact } from './redact-url.js';

describe('redact', () => {
  it.each([
    ['postgres://edge:s3cret@127.0.0.1:5432/fleet', 'postgres://edge:***@127.0.0.1:5432/fleet'],
    // Redis with a password and no user name (requirepass): the form a plain regex on `user:` misses.
    ['redis://:s3cret@127.0.0.1:6379', 'redis://:***@127.0.0.1:6379'],
    ['rediss://default:s3cret@cache.local:6380/2', 'rediss://default:***@cache.local:6380/2'],
    [
      'postgres://edge@db/fleet?password=s3cret&sslmode=require',
      'postgres://edge@db/fleet?password=***&sslmode=require',
    ],
    // A password holding URL-special characters, percent-encoded as the URL spec requires.
    ['postgres://edge:p%40ss%2Fw0rd@db/fleet', 'postgres://edge:***@db/fleet'],
  ])('hides the password of %s', (url, expected) => {
    expect(redact(url)).toBe(expected);
    expect(redact(url)).not.toContain('s3cret');
  });

  it('leaves a URL without a password and a file path as they are', () => {
    expect(redact('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redact('postgres://edge@127.0.0.1/fleet')).toBe('postgres://edge@127.0.0.1/fleet');
    expect(redact('sqlite:/var/lib/edgefleet/fleet.db')).toBe('sqlite:/var/lib/edgefleet/fleet.db');
  });

  it('still hides what sits between user: and the last @ in a string that does not parse as a URL', () => {
    const unparsable = 'postgres://edge:s3cret@[not-a-host/fleet';
    expect(() => new URL(unparsable)).toThrow();
    expect(redact(unparsable)).toBe('postgres://edge:***@[not-a-host/fleet');
    // A password holding an @ that was not percent-encoded.
    expect(redact('redis://:p@ss@[bad')).toBe('redis://:***@[bad');
  });

  it('changes nothing but the password: other query parameters and non-ASCII paths stay as written', () => {
    expect(redact('sqlite:/data/我的 文件/fleet.db')).toBe('sqlite:/data/我的 文件/fleet.db');
    expect(redact('postgres://edge@db/fleet?application_name=a%20b&password=s3cret')).toBe(
      'postgres://edge@db/fleet?application_name=a%20b&password=***',
    );
  });
});
