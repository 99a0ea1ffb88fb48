import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertGgufFile, assertGgufPrefix } from './gguf-magic.js';

function prefix(magic: string, version: number): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.write(magic, 0, 'latin1');
  buffer.writeUInt32LE(version, 4);
  return buffer;
}

describe('assertGgufPrefix', () => {
  it('accepts GGUF versions 2 and 3', () => {
    expect(() => assertGgufPrefix(prefix('GGUF', 3), 'm')).not.toThrow();
    expect(() => assertGgufPrefix(prefix('GGUF', 2), 'm')).not.toThrow();
  });

  it.each([
    [prefix('GGUF', 1), /version 1; only versions 2 and 3/],
    [Buffer.from('<!DOCTYPE html>'), /not a GGUF model file \(it looks like an HTML\/XML page\)/],
    [Buffer.from('{"error":"x"}'), /a JSON document/],
    [Buffer.from('PK\x03\x04zipzip', 'latin1'), /a zip archive/],
    [Buffer.from('GGU'), /only 3 bytes long/],
    [Buffer.from('\x00\x01\x02\x03\x04\x05\x06\x07', 'latin1'), /bytes 0x00010203/],
  ])('refuses %s', (bytes, message) => {
    expect(() => assertGgufPrefix(bytes, 'm')).toThrow(message);
  });
});

describe('assertGgufFile', () => {
  it('reads the first bytes of a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgefleet-magic-'));
    try {
      await writeFile(join(dir, 'ok.gguf'), Buffer.concat([prefix('GGUF', 3), Buffer.alloc(32)]));
      await writeFile(join(dir, 'bad.gguf'), 'hello world');
      await expect(assertGgufFile(join(dir, 'ok.gguf'))).resolves.toBeUndefined();
      await expect(assertGgufFile(join(dir, 'bad.gguf'))).rejects.toMatchObject({
        code: 'invalid_model_file',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
