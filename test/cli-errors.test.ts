/**
 * How the `edgefleet` launcher and commands end on mistakes that no other test makes: a tool-less `dev`,
 * `engine --meta` that is not a JSON object, an engine `--model` that is not there, a gateway `--site` too
 * long, and output piped into a reader that has gone away.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { binPath } from './helpers/edgefleet-process.js';

function run(
  args: string[],
  closeStdout = false,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [binPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  if (closeStdout) child.stdout.destroy();
  else child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('edgefleet on mistakes', () => {
  it('asks which tool when `dev` has none (exit 2, on stderr)', async () => {
    const result = await run(['dev']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^edgefleet dev: which tool\?\n\nusage: edgefleet dev <tool>/);
  });

  it('refuses an engine --meta that is not a JSON object as a usage error', async () => {
    for (const meta of ['notjson', '[1]', '3']) {
      const result = await run(['engine', '--model', '/nonexistent.gguf', '--meta', meta]);
      expect(result.code, meta).toBe(2);
      expect(result.stderr).toContain(
        `edgefleet engine: --meta must be a JSON object, got ${JSON.stringify(meta)}`,
      );
    }
  });

  it('says an engine --model that is missing or not a file before it listens (exit 2, no stack)', async () => {
    for (const [model, why] of [
      ['/nonexistent.gguf', 'no such file'],
      ['/', 'not a file'],
    ] as const) {
      const result = await run(['engine', '--model', model, '--port', '0']);
      expect(result.code, model).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `edgefleet engine: --model ${model}: ${why}\nRun \`edgefleet engine --help\` for its options.\n`,
      );
    }
  });

  it('refuses a gateway --site longer than a site name can be (every usage record carries it)', async () => {
    const result = await run(['gateway', '--server', 'http://127.0.0.1:9', '--site', 'x'.repeat(129)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('edgefleet gateway: --site is longer than 128 characters');
  });

  it('ends quietly when its reader has gone (`| head`)', async () => {
    const result = await run(['recommend', '--hardware', 'h200', '--count', '8'], true);
    expect(result.code).toBe(0);
    expect(result.stderr).not.toMatch(/EPIPE|Error/);
  });
});
