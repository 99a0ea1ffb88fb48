import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachePath, downloadUrl, isLoopbackHost, parseModelRef } from './model-ref.js';

describe('parseModelRef', () => {
  it('parses hf refs, with and without a revision', () => {
    expect(parseModelRef('hf:bartowski/Repo-GGUF/Model-Q4_K_M.gguf')).toEqual({
      kind: 'hf',
      ref: 'hf:bartowski/Repo-GGUF/Model-Q4_K_M.gguf',
      repo: 'bartowski/Repo-GGUF',
      revision: 'main',
      file: 'Model-Q4_K_M.gguf',
    });
    expect(parseModelRef('hf:user/repo@v1.0/sub/dir/m.gguf')).toMatchObject({
      ref: 'hf:user/repo@v1.0/sub/dir/m.gguf',
      revision: 'v1.0',
      file: 'sub/dir/m.gguf',
    });
    expect(parseModelRef('hf:user/repo@main/m.gguf').ref).toBe('hf:user/repo/m.gguf');
  });

  it('maps Hugging Face web URLs (resolve and blob) to hf refs', () => {
    expect(parseModelRef('https://huggingface.co/user/repo/resolve/main/m.gguf?download=true').kind).toBe(
      'url',
    );
    expect(parseModelRef('https://huggingface.co/user/repo/blob/abc123/m.gguf').ref).toBe(
      'hf:user/repo@abc123/m.gguf',
    );
    expect(parseModelRef('https://hf.co/user/repo/resolve/main/m.gguf').ref).toBe('hf:user/repo/m.gguf');
  });

  it('keeps other https URLs and loopback http URLs as they are', () => {
    expect(parseModelRef('https://example.com/models/m.gguf#x')).toMatchObject({
      kind: 'url',
      ref: 'https://example.com/models/m.gguf',
    });
    expect(parseModelRef('http://127.0.0.1:8080/m.gguf').kind).toBe('url');
    expect(parseModelRef('http://localhost/m.gguf').kind).toBe('url');
  });

  it.each([
    ['hf:user/repo', /expected hf:/],
    ['hf:user/repo/model.bin', /must name a \.gguf file/],
    ['hf:user/repo/../../etc/passwd.gguf', /invalid path segment/],
    ['http://example.com/m.gguf', /plain http/],
    ['ftp://example.com/m.gguf', /unsupported protocol/],
    ['not a ref', /expected hf:/],
  ])('refuses %s', (ref, message) => {
    expect(() => parseModelRef(ref)).toThrow(message);
  });
});

describe('downloadUrl', () => {
  it('builds the resolve URL on the endpoint, encoding each path segment', () => {
    const ref = parseModelRef('hf:user/repo@v2/dir/a b.gguf');
    expect(downloadUrl(ref).href).toBe('https://huggingface.co/user/repo/resolve/v2/dir/a%20b.gguf');
    expect(downloadUrl(ref, 'https://hf-mirror.com/').href).toBe(
      'https://hf-mirror.com/user/repo/resolve/v2/dir/a%20b.gguf',
    );
  });

  it('refuses a plain-http endpoint that is not loopback', () => {
    expect(() => downloadUrl(parseModelRef('hf:u/r/m.gguf'), 'http://mirror.example')).toThrow(/plain http/);
  });
});

describe('cachePath', () => {
  it('lays hf refs out by repo and revision, URLs by host and a digest', () => {
    expect(cachePath('/m', parseModelRef('hf:u/r@v1/d/m.gguf'))).toBe(
      join('/m', 'hf', 'u', 'r', 'v1', 'd', 'm.gguf'),
    );
    const url = cachePath('/m', parseModelRef('https://example.com:8443/dl?id=5'));
    expect(url).toMatch(/^\/m\/url\/example\.com_8443\/[0-9a-f]{12}\/dl\.gguf$/);
    expect(cachePath('/m', parseModelRef('https://example.com/dl?id=6'))).not.toBe(
      cachePath('/m', parseModelRef('https://example.com/dl?id=5')),
    );
  });
});

describe('isLoopbackHost', () => {
  it('accepts only loopback names', () => {
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '[::1]'].every(isLoopbackHost)).toBe(true);
    expect(['10.0.0.1', 'example.com', '127.0.0.1.nip.io'].some(isLoopbackHost)).toBe(false);
  });
});
