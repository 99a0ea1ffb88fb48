/**
 * A JSON file a per-room gateway keeps what it last pulled from the control plane in
 * (`<home>/gateway-cache/*.json`), so that a restart while the control plane is unreachable still
 * serves. Writes are atomic (a temporary file renamed over the old one) and owner-only (0600).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export class DiskCache<T> {
  constructor(
    readonly path: string,
    private readonly parse: (value: unknown) => T,
  ) {}

  /** The cached value, or undefined when there is none or it cannot be read (a warning for the caller). */
  async load(): Promise<{ value: T } | { value: undefined; error?: unknown }> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { value: undefined };
      return { value: undefined, error };
    }
    try {
      return { value: this.parse(JSON.parse(text)) };
    } catch (error) {
      return { value: undefined, error };
    }
  }

  /** Replaces the file atomically: readers see the old or the new content, never a torn one. */
  async save(value: T): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const partial = `${this.path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(partial, JSON.stringify(value), { mode: 0o600, flush: true });
      await chmod(partial, 0o600);
      await rename(partial, this.path);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  }
}
