import { describe, expect, it } from 'vitest';
import { runCommand } from './run-command.js';

describe('runCommand', () => {
  it('returns stdout and exit status without a shell', async () => {
    expect(await runCommand('node', ['-e', 'process.stdout.write("a; b")'], 10_000)).toEqual({
      exitCode: 0,
      stdout: 'a; b',
      stderr: '',
      timedOut: false,
    });
    const failed = await runCommand(
      'node',
      ['-e', 'process.stderr.write("no driver"); process.exit(9)'],
      10_000,
    );
    expect(failed).toMatchObject({ exitCode: 9, stderr: 'no driver', timedOut: false });
  });

  it('kills a command that runs past its timeout', async () => {
    const result = await runCommand('node', ['-e', 'setTimeout(() => {}, 10_000)'], 300);
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBeNull();
  });

  it('rejects with ENOENT for a command that does not exist', async () => {
    await expect(runCommand('edgefleet-no-such-smi', [], 1_000)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
