import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { binPath } from '../helpers/edgefleet-process.js';

const run = async (args: string[]) => {
  const home = await mkdtemp(join(tmpdir(), 'ef-bad-'));
  try {
    await promisify(execFile)(
      process.execPath,
      [binPath, 'up', '--home', home, '--port', '0', '--offline', ...args],
      {
        timeout: 20_000,
      },
    );
    return { code: 0, stderr: '' };
  } catch (error) {
    const failure = error as { code: number; stderr: string };
    return { code: failure.code, stderr: failure.stderr };
  }
};

/** `edgefleet up` refuses what it cannot serve before starting anything, with a message that says why. */
describe('edgefleet up: models it cannot serve', () => {
  it('refuses a file that is not GGUF (llama.cpp would abort on it)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ef-notgguf-'));
    const path = join(dir, 'model.gguf');
    await writeFile(path, '<html>not a model</html>'.repeat(10));
    const { code, stderr } = await run(['--model', path]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/GGUF/i);
  });

  it('refuses a truncated GGUF file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ef-trunc-'));
    const path = join(dir, 'model.gguf');
    await writeFile(path, Buffer.from([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, 9, 9]));
    const { code, stderr } = await run(['--model', path]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/invalid|truncated|GGUF/i);
  });

  it('explains what --model accepts when it names nothing it knows', async () => {
    const { code, stderr } = await run(['--model', 'no-such-model']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/hf:user\/repo\/file\.gguf/);
    expect(stderr).toMatch(/deepseek-r1-distill-qwen-7b/);
  });

  it('rejects unknown flags and bad numbers with exit code 2', async () => {
    expect((await run(['--frobnicate'])).code).toBe(2);
    const { code, stderr } = await run(['--threads', 'zero']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--threads/);
  });
});
