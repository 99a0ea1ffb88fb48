/**
 * An engine's output on disk: `engine.log` in its work dir, moved to `engine.log.1` (replacing the one
 * before) once it holds `maxBytes`, so an engine that logs every request (llama-server, vLLM) keeps at
 * most twice that on disk. A file that cannot be opened, written or moved (a full disk, a read-only or
 * broken work dir) is reported once, and nothing more is written to it: the engine runs on, its output
 * still kept in memory by the supervisor (which starts a new EngineLogFile at the engine's next start).
 */
import { createWriteStream, fstatSync, openSync, renameSync, type WriteStream } from 'node:fs';

/** Default size at which `engine.log` is moved aside. */
export const engineLogMaxBytes = 64 * 1024 * 1024;

export class EngineLogFile {
  private file: WriteStream | undefined;
  private bytes = 0;
  private failed = false;

  constructor(
    readonly path: string,
    private readonly onError: (error: Error) => void,
    private readonly maxBytes = engineLogMaxBytes,
  ) {}

  write(text: string): void {
    if (this.failed) return;
    const length = Buffer.byteLength(text);
    this.file ??= this.open();
    if (this.file !== undefined && this.bytes > 0 && this.bytes + length > this.maxBytes) {
      this.rotate();
      this.file = this.failed ? undefined : this.open();
    }
    if (this.file === undefined) return;
    this.bytes += length;
    this.file.write(text);
  }

  close(): void {
    this.file?.end();
    this.file = undefined;
  }

  /** Opened synchronously, so that its size is known and a rotation finds the file there. */
  private open(): WriteStream | undefined {
    let fd: number;
    try {
      fd = openSync(this.path, 'a');
      this.bytes = fstatSync(fd).size;
    } catch (error) {
      this.fail(error as Error);
      return undefined;
    }
    const file = createWriteStream(this.path, { fd });
    file.on('error', (error) => this.fail(error));
    return file;
  }

  private rotate(): void {
    this.close(); // what was written still reaches the file it was written to
    try {
      renameSync(this.path, `${this.path}.1`);
    } catch (error) {
      this.fail(error as Error);
    }
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.file?.destroy();
    this.file = undefined;
    this.onError(error);
  }
}
