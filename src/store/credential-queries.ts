import { randomUUID } from 'node:crypto';
import { clipped, EdgeFleetError } from '../spec/edgefleet-error.js';
import { asJson, buildSetClause, notFound, same, type SqlContext, type SqlExecutor } from './sql-driver.js';
import type { ApiKeyPatch, Store } from './store.js';
import { toApiKey, toJoinToken } from './store-rows.js';

type CredentialQueries = Pick<
  Store,
  | 'createApiKey'
  | 'findApiKeyByHash'
  | 'listApiKeys'
  | 'updateApiKey'
  | 'revokeApiKey'
  | 'touchApiKey'
  | 'createJoinToken'
  | 'consumeJoinToken'
>;

const apiKeyColumns = {
  name: ['name', same],
  // null is every model: SQL NULL, not the JSON text "null".
  allowedModels: ['allowed_models', (models: string[] | null) => (models === null ? null : asJson(models))],
  rpm: ['rpm', same],
  tpm: ['tpm', same],
  tokenBudget: ['token_budget', same],
  region: ['region', same],
} as const;

/** Throws `conflict` when an active key other than `exceptId` is named `name`. */
async function ensureNameFree(tx: SqlExecutor, name: string, exceptId: string | null): Promise<void> {
  const [taken] = await tx.query(
    'SELECT id FROM api_keys WHERE name = $1 AND revoked_at_ms IS NULL AND id <> $2',
    [name, exceptId ?? ''],
  );
  if (taken) {
    throw new EdgeFleetError(
      'conflict',
      `an API key named "${clipped(name)}" exists (id ${String(taken['id'])}); revoke it first or choose another name`,
      { param: 'name' },
    );
  }
}

/** API keys and worker join tokens (stored hashed). The usage ledger is in usage-queries.ts. */
export function credentialQueries({ db, atomically, namedLockSql }: SqlContext): CredentialQueries {
  // One active key per name: names are how usage reports, the dashboard and revoking tell keys apart.
  // The lock makes the check and the write one step for every control plane on the database.
  const lockNames = async (tx: SqlExecutor) => {
    if (namedLockSql !== null) await tx.query(namedLockSql, ['edgefleet:api-key-names']);
  };
  return {
    createApiKey: (input) =>
      atomically(async (tx) => {
        await lockNames(tx);
        await ensureNameFree(tx, input.name, null);
        const rows = await tx.query(
          `INSERT INTO api_keys (id, name, key_hash, role, allowed_models, rpm, tpm, token_budget, region,
           created_at_ms, revoked_at_ms, last_used_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL) RETURNING *`,
          [
            input.id ?? randomUUID(),
            input.name,
            input.keyHash,
            input.role,
            input.allowedModels == null ? null : JSON.stringify(input.allowedModels),
            input.rpm ?? null,
            input.tpm ?? null,
            input.tokenBudget ?? null,
            input.region ?? null,
            Date.now(),
          ],
        );
        return toApiKey(rows[0]);
      }),
    async findApiKeyByHash(keyHash) {
      const rows = await db.query('SELECT * FROM api_keys WHERE key_hash = $1', [keyHash]);
      return rows[0] === undefined ? null : toApiKey(rows[0]);
    },
    async listApiKeys() {
      return (await db.query('SELECT * FROM api_keys ORDER BY created_at_ms, id')).map(toApiKey);
    },
    updateApiKey: (id, patch) =>
      atomically(async (tx) => {
        if (patch.name !== undefined) await lockNames(tx);
        // The key itself first: an unknown or revoked key says so, whatever name it was to get.
        const [existing] = await tx.query('SELECT name, revoked_at_ms FROM api_keys WHERE id = $1', [id]);
        if (existing === undefined) throw notFound('api key', id);
        if (existing['revoked_at_ms'] !== null) {
          throw new EdgeFleetError(
            'conflict',
            `API key "${clipped(String(existing['name']))}" is revoked; a revoked key cannot be changed (create a new one)`,
            { data: { id } },
          );
        }
        if (patch.name !== undefined) await ensureNameFree(tx, patch.name, id);
        const set = buildSetClause<ApiKeyPatch>(patch, apiKeyColumns, 2);
        // Nothing to change still reads the row.
        const [row] = await tx.query(
          set.sql.length === 0
            ? 'SELECT * FROM api_keys WHERE id = $1'
            : `UPDATE api_keys SET ${set.sql.join(', ')} WHERE id = $1 RETURNING *`,
          [id, ...set.params],
        );
        return toApiKey(row!);
      }),
    async revokeApiKey(id, atMs = Date.now()) {
      const changed = await db.run(
        'UPDATE api_keys SET revoked_at_ms = COALESCE(revoked_at_ms, $2) WHERE id = $1',
        [id, atMs],
      );
      if (changed === 0) throw notFound('api key', id);
    },
    async touchApiKey(id, atMs = Date.now()) {
      await db.run(
        `UPDATE api_keys SET last_used_at_ms = $2
         WHERE id = $1 AND (last_used_at_ms IS NULL OR last_used_at_ms < $2)`,
        [id, atMs],
      );
    },

    async createJoinToken(input) {
      const rows = await db.query(
        `INSERT INTO join_tokens (id, token_hash, expires_at_ms, used_at_ms, created_at_ms)
         VALUES ($1, $2, $3, NULL, $4) RETURNING *`,
        [input.id ?? randomUUID(), input.tokenHash, input.expiresAtMs, Date.now()],
      );
      return toJoinToken(rows[0]);
    },
    async consumeJoinToken(tokenHash, nowMs = Date.now()) {
      // One conditional UPDATE: the database lets exactly one concurrent caller flip used_at_ms.
      const rows = await db.query(
        `UPDATE join_tokens SET used_at_ms = $2
         WHERE token_hash = $1 AND used_at_ms IS NULL AND expires_at_ms > $2
         RETURNING *`,
        [tokenHash, nowMs],
      );
      if (rows[0] !== undefined) return { ok: true, token: toJoinToken(rows[0]) };
      const existing = await db.query('SELECT * FROM join_tokens WHERE token_hash = $1', [tokenHash]);
      if (existing[0] === undefined) return { ok: false, reason: 'unknown' };
      return { ok: false, reason: toJoinToken(existing[0]).usedAtMs === null ? 'expired' : 'used' };
    },
  };
}
