import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intFlag, parseFlags, portFlag, readFlagFile, serverUrlFlag } from './parse-flags.js';

describe('intFlag', () => {
  it('takes decimal integers at or above the minimum, and the fallback when absent', () => {
    expect(intFlag(undefined, 'rpm', 7)).toBe(7);
    expect(intFlag('16', 'rpm', 7)).toBe(16);
    expect(intFlag('0', 'rpm', 7, 0)).toBe(0);
    expect(intFlag('-2', 'offset', 0, -5)).toBe(-2);
  });

  it('refuses what Number() would quietly read as another number', () => {
    for (const value of ['0x10', '1e3', ' 7 ', '7.0', '', '+5', '0b11', '9007199254740993', 'Infinity']) {
      expect(() => intFlag(value, 'rpm', 1), JSON.stringify(value)).toThrow(/--rpm must be an integer ≥ 1/);
    }
    expect(() => intFlag('0', 'rpm', 1)).toThrow(/≥ 1, got "0"/);
  });

  it('takes ports from 0 to 65535 and says so for anything else', () => {
    expect(portFlag('0', 8080)).toBe(0);
    expect(portFlag('65535', 8080)).toBe(65_535);
    expect(portFlag(undefined, 8080)).toBe(8080);
    for (const value of ['65536', '70000', '-1']) {
      expect(() => portFlag(value, 8080)).toThrow(
        `--port must be an integer from 0 to 65535, got "${value}"`,
      );
    }
  });
});

describe('parseFlags', () => {
  it("reads a negative number after a flag as that flag's value, so its own range check answers", () => {
    const options = { rpm: { type: 'string' }, json: { type: 'boolean' } } as const;
    expect(parseFlags(['--rpm', '-1', '--json'], options).values).toEqual({ rpm: '-1', json: true });
    expect(() => intFlag(parseFlags(['--rpm', '-1'], options).values.rpm, 'rpm', 0)).toThrow(
      '--rpm must be an integer ≥ 1, got "-1"',
    );
    // Anything else that starts with a dash is still another flag, and a flag without its value says so.
    expect(() => parseFlags(['--rpm', '--json'], options)).toThrow(/--rpm/);
    expect(() => parseFlags(['--json', '-1'], options)).toThrow(/-1/);
    expect(parseFlags(['--', '--rpm', '-1'], options, true).positionals).toEqual(['--rpm', '-1']);
  });
});

describe('serverUrlFlag', () => {
  it('takes http(s) base URLs, with or without a path prefix, without the trailing slash', () => {
    expect(serverUrlFlag('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(serverUrlFlag('https://cp.example/')).toBe('https://cp.example');
    expect(serverUrlFlag('https://proxy.example/edgefleet/')).toBe('https://proxy.example/edgefleet');
  });

  it('refuses other schemes and says which URL to give for one that ends in the API path', () => {
    for (const raw of ['ftp://x', 'localhost:8080', '']) {
      expect(() => serverUrlFlag(raw)).toThrow(`--server must be an http(s) URL, got "${raw}"`);
    }
    expect(() => serverUrlFlag('http://127.0.0.1:8080/api/v1')).toThrow(
      "--server is the server's address without /api/v1: --server http://127.0.0.1:8080",
    );
    expect(() => serverUrlFlag('https://proxy.example/ef/v1/')).toThrow(
      "--server is the server's address without /v1: --server https://proxy.example/ef",
    );
  });
});

describe('readFlagFile', () => {
  it('reads the file, and names the flag and the reason when it cannot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ef-flag-file-'));
    try {
      await expect(readFlagFile(join(dir, 'nope.json'), 'input')).rejects.toMatchObject({
        code: 'invalid_argument',
        message: `--input: cannot read ${join(dir, 'nope.json')}: no such file`,
      });
      await expect(readFlagFile(dir, 'input')).rejects.toThrow(
        `--input: cannot read ${dir}: it is a directory`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
