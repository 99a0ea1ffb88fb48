import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** What a registered worker keeps in `<home>/worker.json` (mode 0600) to re-use after a restart. */
export interface WorkerIdentity {
  serverUrl: string;
  nodeId: string;
  credential: string;
}

const identitySchema = z.object({
  serverUrl: z.string().min(1),
  nodeId: z.string().min(1),
  credential: z.string().min(1),
});

export function workerStatePath(home: string): string {
  return join(home, 'worker.json');
}

/**
 * Reads the saved node identity for `serverUrl`, or null when there is none (or it belongs to another
 * control plane, or the file is unreadable).
 */
export async function loadWorkerIdentity(home: string, serverUrl: string): Promise<WorkerIdentity | null> {
  let text: string;
  try {
    text = await readFile(workerStatePath(home), 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = identitySchema.safeParse(JSON.parse(text));
    if (!parsed.success || parsed.data.serverUrl !== serverUrl) return null;
    return parsed.data;
  } catch {
    return null;
  }
}

/** Writes the identity atomically, readable by the owner only. */
export async function saveWorkerIdentity(home: string, identity: WorkerIdentity): Promise<void> {
  await mkdir(home, { recursive: true });
  const path = workerStatePath(home);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
}
