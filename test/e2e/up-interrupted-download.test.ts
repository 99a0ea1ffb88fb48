import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, waitFor } from '../helpers/edgefleet-process.js';
import { defaultModelPath as defaultPath, type FakeHub, startFakeHub } from '../helpers/fake-hub.js';
import { makeTestModel } from '../helpers/models.js';

const FIRST_BYTES = 64 * 1024;

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/**
 * Ctrl-C while `edgefleet up` downloads its model stops it there, like `edgefleet pull`: exit 130, a
 * resume hint, nothing started, no demo model; the partial download stays for the next run.
 */
describe('edgefleet up: Ctrl-C during the model download', () => {
  let hub: FakeHub;
  let hubUrl: string;
  let requests: string[];

  beforeAll(async () => {
    const bytes = await readFile((await makeTestModel({ think: true })).path);
    // A slow Hugging Face: the first bytes of the default model, then nothing until the client goes away.
    hub = await startFakeHub(bytes, { stallAfterBytes: FIRST_BYTES });
    hubUrl = hub.url;
    requests = hub.requests;
  });

  afterAll(() => hub?.close());

  it.each([
    ['the default model', []],
    ['--model deepseek-r1-distill-qwen-1.5b', ['--model', 'deepseek-r1-distill-qwen-1.5b']],
  ])('%s: exits 130 with a resume hint and starts nothing', async (_name, modelArgs) => {
    const home = await mkdtemp(join(tmpdir(), 'ef-home-'));
    const child = spawn(
      process.execPath,
      [binPath, 'up', '--home', home, '--port', '0', '--threads', '1', ...modelArgs],
      {
        env: { ...process.env, EDGEFLEET_LOG_LEVEL: 'warn', HF_ENDPOINT: hubUrl },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // Interrupt once the download is under way: the first bytes are in the part file.
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`edgefleet up exited early:\n${out}\n${err}`);
          const parts = (await filesUnder(join(home, 'models'))).filter((f) => f.endsWith('.gguf.part'));
          return parts.length > 0 ? true : undefined;
        },
        20_000,
        `the download to start:\n${out}\n${err}`,
      );
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(err).toMatch(/^edgefleet up: download interrupted; run the same command again to resume$/m);
      expect(err).not.toMatch(/DEMO/);
      expect(out).toBe('');
      // Nothing was started: no database, no credentials, no demo model; only the partial download.
      expect(await readdir(home)).toEqual(['models']);
      expect(existsSync(join(home, 'models', 'demo'))).toBe(false);
      const left = await filesUnder(join(home, 'models'));
      expect(left.some((f) => f.endsWith('.gguf.part'))).toBe(true);
      expect(left.some((f) => f.endsWith('.gguf.part.json'))).toBe(true);
      expect(requests.filter((r) => r === defaultPath).length).toBeGreaterThan(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await rm(home, { recursive: true, force: true });
    }
  });
});
