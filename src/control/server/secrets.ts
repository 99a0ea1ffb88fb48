import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashSecret } from '../../http/bearer-secret.js';
import type { Store } from '../../store/store.js';

/** How long a join token stays valid unless `edgefleet server token --ttl-s` says otherwise. */
export const joinTokenTtlMs = 7 * 24 * 3600 * 1000;

/** A new random secret such as `ef_admin_…`, `ef_join_…`, `ef_node_…` or `ef_engine_…` (256 bits, base64url). */
export function newSecret(prefix: 'admin' | 'join' | 'node' | 'engine'): string {
  return `ef_${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Writes a secret to a file readable by the owner only (0600, also when the file existed). */
export async function writeSecretFile(home: string, file: string, secret: string): Promise<string> {
  await mkdir(home, { recursive: true });
  const path = join(home, file);
  await writeFile(path, `${secret}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

export interface BootstrapResult {
  /** Set only on the first start: the secrets to show once. */
  created?: {
    adminKey: string;
    joinToken: string;
    /** The admin key was already in `<home>/admin-key` (an earlier database's): kept, not shown again. */
    adminKeyKept: boolean;
  };
}

/** An admin key as `newSecret('admin')` makes them: 32 random bytes in base64url. */
const adminKeyPattern = /^ef_admin_[A-Za-z0-9_-]{43}$/;

/**
 * First start (no API key in the store): creates an admin key and a join token and writes them to
 * `<home>/admin-key` and `<home>/join-token`. Later starts do nothing. Where `<home>/admin-key` already
 * holds an admin key (the home was used with another database, or the database was replaced), that key
 * becomes this database's admin key rather than being overwritten: the CLI, dashboards and scripts that
 * use it keep working, and the other database's key is not lost.
 */
export async function bootstrapSecrets(
  store: Store,
  home: string,
  nowMs = Date.now(),
): Promise<BootstrapResult> {
  if ((await store.listApiKeys()).length > 0) return {};
  const existing = (await readFile(join(home, 'admin-key'), 'utf8').catch(() => '')).trim();
  const adminKeyKept = adminKeyPattern.test(existing);
  const adminKey = adminKeyKept ? existing : newSecret('admin');
  const joinToken = newSecret('join');
  await store.withTransaction(async (tx) => {
    await tx.createApiKey({ name: 'admin', keyHash: hashSecret(adminKey), role: 'admin' });
    await tx.createJoinToken({ tokenHash: hashSecret(joinToken), expiresAtMs: nowMs + joinTokenTtlMs });
  });
  if (!adminKeyKept) await writeSecretFile(home, 'admin-key', adminKey);
  await writeSecretFile(home, 'join-token', joinToken);
  return { created: { adminKey, joinToken, adminKeyKept } };
}

/**
 * `edgefleet server token [--ttl-s N]`: a new join token valid for `ttlMs`, stored hashed (with its
 * expiry) and written to `<home>/join-token`.
 */
export async function rotateJoinToken(
  store: Store,
  home: string,
  nowMs = Date.now(),
  ttlMs = joinTokenTtlMs,
): Promise<string> {
  const joinToken = newSecret('join');
  await store.createJoinToken({ tokenHash: hashSecret(joinToken), expiresAtMs: nowMs + ttlMs });
  await writeSecretFile(home, 'join-token', joinToken);
  return joinToken;
}
