import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Default number of retired instance directories a worker keeps (`--keep-instance-dirs`). */
export const defaultKeepInstanceDirs = 8;

/**
 * Removes the directories under `<home>/instances` of instances this worker no longer runs, keeping the
 * `keep` most recently changed ones (their `engine.log` says why an instance failed or what it did last).
 * Each directory holds up to two 64 MiB engine logs, and every re-placement of an instance gets a new id,
 * so without this a long-running worker's disk fills with the logs of instances long gone.
 *
 * A directory is never removed while it belongs to a running instance (`running`) or still records an
 * engine (`engine.pid`: an engine whose stop has not finished, or one an earlier worker run left). Returns
 * the ids removed.
 */
export async function pruneRetiredInstanceDirs(
  home: string,
  running: ReadonlySet<string>,
  keep: number,
): Promise<string[]> {
  const root = join(home, 'instances');
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const retired: { id: string; changedMs: number }[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || running.has(entry.name)) continue;
    const dir = join(root, entry.name);
    if (await stat(join(dir, 'engine.pid')).catch(() => undefined)) continue;
    const info = await stat(dir).catch(() => undefined);
    if (!info) continue;
    // A directory's own mtime changes only when entries are added or removed; its log's mtime is when the
    // engine last wrote, which is when the instance was last alive.
    const log = await stat(join(dir, 'engine.log')).catch(() => undefined);
    retired.push({ id: entry.name, changedMs: Math.max(info.mtimeMs, log?.mtimeMs ?? 0) });
  }
  retired.sort((a, b) => b.changedMs - a.changedMs);
  const removed: string[] = [];
  for (const { id } of retired.slice(Math.max(0, keep))) {
    await rm(join(root, id), { recursive: true, force: true });
    removed.push(id);
  }
  return removed;
}
