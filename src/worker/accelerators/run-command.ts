import { execFile, type ExecFileException } from 'node:child_process';
import type { CommandResult } from './accelerator-device.js';

/** Output beyond this is a broken tool, not a device list. */
const maxOutputBytes = 8 * 1024 * 1024;

/**
 * The default RunCommand: execFile (no shell) with a timeout. Resolves for any exit status; rejects
 * only when the command could not be started (the error's `code` is 'ENOENT' when it does not exist).
 */
export function runCommand(cmd: string, args: readonly string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      [...args],
      {
        timeout: timeoutMs,
        maxBuffer: maxOutputBytes,
        encoding: 'utf8',
        windowsHide: true,
        env: { ...process.env, LC_ALL: 'C' },
      },
      (error: ExecFileException | null, stdout: string, stderr: string) => {
        if (error === null) {
          resolve({ exitCode: 0, stdout, stderr, timedOut: false });
          return;
        }
        if (typeof error.code === 'string') {
          // ENOENT, EACCES, ERR_CHILD_PROCESS_STDIO_MAXBUFFER…: the command did not run to completion.
          if (error.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
            resolve({
              exitCode: null,
              stdout,
              stderr: `${stderr}\noutput exceeded ${maxOutputBytes} bytes`,
              timedOut: false,
            });
            return;
          }
          reject(error);
          return;
        }
        const timedOut = error.killed === true && error.signal === 'SIGTERM';
        resolve({ exitCode: typeof error.code === 'number' ? error.code : null, stdout, stderr, timedOut });
      },
    );
  });
}
