import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const logger = fileURLToPath(new URL('../../dist/telemetry/logger.js', import.meta.url));

/**
 * A process whose stderr reader went away (`edgefleet worker 2>&1 | tee log`, and tee died) writes its
 * log lines and an engine's output to a closed pipe: they are lost, the process is not.
 */
async function runWithClosedStderr(write: string): Promise<{ code: number | null; stdout: string }> {
  const script = `
    import { createLogger, writeToStderr } from ${JSON.stringify(logger)};
    const log = createLogger('test');
    await new Promise((resolve) => setTimeout(resolve, 200)); // the parent closes our stderr meanwhile
    for (let i = 0; i < 50; i++) {
      ${write}
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.stdout.write('survived\\n');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.destroy();
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stdout };
}

describe('stderr closed under a running process', () => {
  it('loses the log lines and passed-on engine output, and the process goes on', async () => {
    const result = await runWithClosedStderr(
      "log.info({ i }, 'a line'); writeToStderr(`engine output ${i}\\n`);",
    );
    expect(result).toEqual({ code: 0, stdout: 'survived\n' });
  });

  it('(the check itself) sees a process die that writes to the closed stderr through process.stderr', async () => {
    const result = await runWithClosedStderr('process.stderr.write(`engine output ${i}\\n`);');
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
  });
});
