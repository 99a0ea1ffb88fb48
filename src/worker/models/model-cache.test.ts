import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_MODEL_REF,
  findCached,
  listCachedModels,
  parseModelRef,
  resolveHome,
} from './model-cache.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('resolveHome', () => {
  it('prefers the flag, then $EDGEFLEET_HOME, then ~/.edgefleet', () => {
    vi.stubEnv('EDGEFLEET_HOME', '/srv/edgefleet');
    expect(resolveHome('/data/ef')).toBe('/data/ef');
    expect(resolveHome('~/ef')).toBe(join(homedir(), 'ef'));
    expect(resolveHome('rel')).toBe(resolve('rel'));
    expect(resolveHome()).toBe('/srv/edgefleet');
    vi.stubEnv('EDGEFLEET_HOME', '');
    expect(resolveHome()).toBe(join(homedir(), '.edgefleet'));
  });

  it('refuses a home that exists and is not a directory, naming where it came from', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgefleet-home-'));
    try {
      const file = join(dir, 'a-file');
      await writeFile(file, 'x');
      expect(() => resolveHome(file)).toThrow(
        expect.objectContaining({
          code: 'invalid_argument',
          message: `the EdgeFleet home ${file} (--home) is not a directory`,
        }),
      );
      vi.stubEnv('EDGEFLEET_HOME', file);
      expect(() => resolveHome()).toThrow(`the EdgeFleet home ${file} ($EDGEFLEET_HOME) is not a directory`);
      // One that does not exist yet is created by whoever writes to it.
      expect(resolveHome(join(dir, 'new'))).toBe(join(dir, 'new'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('listCachedModels / findCached', () => {
  it('lists complete GGUF files only, deriving hf refs from paths when there is no manifest', async () => {
    const home = await mkdtemp(join(tmpdir(), 'edgefleet-cache-'));
    try {
      expect(await listCachedModels(home)).toEqual([]);
      const dir = join(home, 'models', 'hf', 'u', 'r', 'v1');
      await mkdir(dir, { recursive: true });
      const gguf = Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(24)]);
      await writeFile(join(dir, 'a.gguf'), gguf);
      await writeFile(join(dir, 'b.gguf.part'), gguf);
      await writeFile(join(dir, 'c.gguf'), '<html>not a model</html>');
      await writeFile(join(dir, 'a.gguf.json'), '{"not":"a manifest"}');
      const listed = await listCachedModels(home);
      expect(listed).toEqual([
        {
          ref: 'hf:u/r@v1/a.gguf',
          path: join(dir, 'a.gguf'),
          sizeBytes: 32,
          sha256: null,
          modifiedAt: expect.any(String),
        },
      ]);
      expect(await findCached(home, 'hf:u/r@v1/a.gguf')).toEqual(listed[0]);
      expect(await findCached(home, 'hf:u/r@v1/b.gguf')).toBeNull();
      expect(await findCached(home, DEFAULT_MODEL_REF)).toBeNull();
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('knows the default model ref', () => {
    expect(parseModelRef(DEFAULT_MODEL_REF)).toMatchObject({
      kind: 'hf',
      repo: 'bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF',
      file: 'DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf',
    });
  });
});
