import Database from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/http/bearer-secret.js';
import { PostgresTestDatabases } from '../store/postgres-test-databases.js';
import { errorCode, listOf, startHarness, type Harness, type JsonObject } from './server-harness.js';

const databases = new PostgresTestDatabases();

/** Every column of every api_keys row, read straight from the database. */
async function rawKeyRows(h: Harness, databaseUrl: string | undefined): Promise<Record<string, unknown>[]> {
  if (databaseUrl === undefined) {
    const db = new Database(join(h.home, 'edgefleet.db'), { readonly: true });
    try {
      return db.prepare('SELECT * FROM api_keys').all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query('SELECT * FROM api_keys')).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

describe.each([
  ['SQLite', false],
  ['PostgreSQL', true],
])('API keys over the management API (%s)', (_name, postgres) => {
  let h: Harness;
  let databaseUrl: string | undefined;

  beforeAll(async () => {
    if (postgres) {
      await databases.connect();
      databaseUrl = await databases.fresh();
    }
    h = await startHarness(databaseUrl);
  });
  afterAll(async () => {
    await h?.close();
    if (postgres) await databases.dropAll();
  });

  it('creates a key with limits, shows its secret once and stores only its hash', async () => {
    const created = await h.call('POST', '/api/v1/keys', {
      body: {
        name: 'team-a',
        models: ['chat-7b', 'embed'],
        rpm: 60,
        tpm: 20_000,
        tokenBudget: 1_000_000,
        region: 'cn-east',
      },
    });
    expect(created.status).toBe(201);
    const secret = created.body['key'] as string;
    expect(secret).toMatch(/^ef_key_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({
      object: 'api_key',
      name: 'team-a',
      role: 'inference',
      models: ['chat-7b', 'embed'],
      rpm: 60,
      tpm: 20_000,
      tokenBudget: 1_000_000,
      region: 'cn-east',
      tokensUsed: 0,
      revokedAtMs: null,
    });
    expect(created.body).not.toHaveProperty('keyHash');

    const rows = await rawKeyRows(h, databaseUrl);
    const row = rows.find((r) => r['id'] === created.body['id']);
    expect(row?.['key_hash']).toBe(hashSecret(secret));
    expect(JSON.stringify(rows)).not.toContain(secret);

    // Listing never shows a secret or a hash again.
    const listed = await h.call('GET', '/api/v1/keys');
    expect(listed.status).toBe(200);
    const keys = listOf(listed.body);
    expect(keys.map((k) => k['name'])).toEqual(expect.arrayContaining(['admin', 'app', 'team-a']));
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(hashSecret(secret));
    for (const key of keys) {
      expect(key).not.toHaveProperty('key');
      expect(key).not.toHaveProperty('keyHash');
    }
  });

  it('lists the tokens each key used from the usage ledger', async () => {
    const created = await h.call('POST', '/api/v1/keys', { body: { name: 'metered' } });
    const id = created.body['id'] as string;
    expect(created.body).toMatchObject({ models: null, rpm: null, tpm: null, tokenBudget: null });
    await h.store.appendUsage([
      { keyId: id, model: 'a', promptTokens: 30, completionTokens: 12, atMs: Date.now() },
      { keyId: id, model: 'b', promptTokens: 8, completionTokens: 0, atMs: Date.now() },
    ]);
    const keys = listOf((await h.call('GET', '/api/v1/keys')).body);
    expect(keys.find((k) => k['id'] === id)?.['tokensUsed']).toBe(50);
  });

  it('warns about allowed models that nothing serves yet, and creates the key anyway', async () => {
    const endpoint = await h.call('POST', '/api/v1/endpoints', {
      body: { model: 'served-by-endpoint', url: 'http://127.0.0.1:9/v1', site: 'room-w' },
    });
    expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
    const created = await h.call('POST', '/api/v1/keys', {
      body: { name: 'warned', models: ['served-by-endpoint', 'chat-7bb'] },
    });
    expect(created.status).toBe(201);
    expect(created.body['models']).toEqual(['served-by-endpoint', 'chat-7bb']);
    expect(created.body['warnings']).toEqual([
      'no deployment or endpoint serves model "chat-7bb" yet; the key can call it once one does',
    ]);
    const served = await h.call('POST', '/api/v1/keys', {
      body: { name: 'not-warned', models: ['served-by-endpoint'] },
    });
    expect(served.status).toBe(201);
    expect(served.body).not.toHaveProperty('warnings');
    expect((await h.call('DELETE', `/api/v1/endpoints/${endpoint.body['id'] as string}`)).status).toBe(200);
  });

  it('refuses invalid bodies with 400 naming the field', async () => {
    const cases: [unknown, string][] = [
      [{}, 'name'],
      [{ name: 'x', rpm: 0 }, 'rpm'],
      [{ name: 'x', tpm: 1.5 }, 'tpm'],
      [{ name: 'x', models: [] }, 'models'],
      [{ name: 'x', role: 'root' }, 'role'],
      [{ name: 'x', secret: 'mine' }, 'secret'],
    ];
    for (const [body, field] of cases) {
      const answer = await h.call('POST', '/api/v1/keys', { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(answer.body), JSON.stringify(body)).toContain(field);
    }
    expect((await h.call('PUT', '/api/v1/keys')).status).toBe(405);
  });

  it("changes a key's limits, allow-list, region and name in place; its secret keeps working", async () => {
    const created = await h.call('POST', '/api/v1/keys', {
      body: { name: 'tenant', models: ['chat-7b'], rpm: 10, tokenBudget: 100, region: 'cn-east' },
    });
    const id = created.body['id'] as string;
    const secret = created.body['key'] as string;
    await h.store.appendUsage([
      { keyId: id, model: 'chat-7b', promptTokens: 90, completionTokens: 10, atMs: 1 },
    ]);

    const raised = await h.call('PATCH', `/api/v1/keys/${id}`, {
      body: { tokenBudget: 5_000_000, rpm: null },
    });
    expect(raised.status, JSON.stringify(raised.body)).toBe(200);
    const { key: _secret, warnings: _warnings, ...createdView } = created.body;
    expect(raised.body).toEqual({ ...createdView, tokenBudget: 5_000_000, rpm: null, tokensUsed: 100 });
    // The same view as the list, and the change is stored.
    const inList = listOf((await h.call('GET', '/api/v1/keys')).body).find((k) => k['id'] === id);
    expect(inList).toEqual(raised.body);

    const moved = await h.call('PATCH', `/api/v1/keys/${id}`, {
      body: { name: 'tenant-b', models: null, tpm: 30_000, region: null },
    });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body).toMatchObject({
      id,
      name: 'tenant-b',
      role: 'inference',
      models: null,
      rpm: null,
      tpm: 30_000,
      tokenBudget: 5_000_000,
      region: null,
      revokedAtMs: null,
    });
    expect(moved.body).not.toHaveProperty('key');
    expect(moved.body).not.toHaveProperty('keyHash');
    // Models are checked as on create: accepted, with a warning for one nothing serves.
    const narrowed = await h.call('PATCH', `/api/v1/keys/${id}`, {
      body: { models: ['chat-7b', 'chat-7b'] },
    });
    expect(narrowed.body['models']).toEqual(['chat-7b']);
    expect(narrowed.body['warnings']).toEqual([
      'no deployment or endpoint serves model "chat-7b" yet; the key can call it once one does',
    ]);
    // The secret and its hash stay: no new secret to hand out.
    const row = (await rawKeyRows(h, databaseUrl)).find((r) => r['id'] === id);
    expect(row?.['key_hash']).toBe(hashSecret(secret));
    expect(row?.['role']).toBe('inference');
    expect((await h.store.findApiKeyByHash(hashSecret(secret)))?.name).toBe('tenant-b');
    // The old name is free for a new key.
    expect((await h.call('POST', '/api/v1/keys', { body: { name: 'tenant' } })).status).toBe(201);
  });

  it('refuses bad changes: empty or unknown fields, the role, a taken name; 404 unknown, 409 revoked', async () => {
    const created = await h.call('POST', '/api/v1/keys', { body: { name: 'patched', rpm: 5 } });
    const id = created.body['id'] as string;
    const cases: [unknown, string][] = [
      [{}, 'at least one of name, models, rpm, tpm, tokenBudget, region'],
      [{ rpm: 0 }, 'rpm'],
      [{ tpm: 1.5 }, 'tpm'],
      [{ tokenBudget: '100' }, 'tokenBudget'],
      [{ models: [] }, 'models'],
      [{ name: null }, 'name'],
      [{ name: 'bad name!' }, 'name'],
      [{ region: '' }, 'region'],
      [{ role: 'admin' }, 'role cannot be changed'],
      [{ key: 'ef_key_mine' }, 'key'],
      [{ keyHash: 'abc' }, 'keyHash'],
      [[], 'body'],
    ];
    for (const [body, text] of cases) {
      const answer = await h.call('PATCH', `/api/v1/keys/${id}`, { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(answer.body), JSON.stringify(body)).toContain(text);
    }
    expect((await h.call('PATCH', `/api/v1/keys/${id}`, { raw: '' })).status).toBe(400);
    expect(listOf((await h.call('GET', '/api/v1/keys')).body).find((k) => k['id'] === id)).toMatchObject({
      name: 'patched',
      rpm: 5,
      role: 'inference',
    });

    // One active key per name, as on create.
    const taken = await h.call('PATCH', `/api/v1/keys/${id}`, { body: { name: 'app' } });
    expect(taken.status).toBe(409);
    expect(errorCode(taken.body)).toBe('conflict');
    expect(JSON.stringify(taken.body)).toMatch(/an API key named \\"app\\" exists/);

    const missing = await h.call('PATCH', '/api/v1/keys/no-such-key', { body: { rpm: 1 } });
    expect(missing.status).toBe(404);
    expect(errorCode(missing.body)).toBe('not_found');
    expect(JSON.stringify(missing.body)).toContain('no API key \\"no-such-key\\"');

    expect((await h.call('DELETE', `/api/v1/keys/${id}`)).status).toBe(200);
    const revoked = await h.call('PATCH', `/api/v1/keys/${id}`, { body: { rpm: 100 } });
    expect(revoked.status).toBe(409);
    expect(errorCode(revoked.body)).toBe('conflict');
    expect(JSON.stringify(revoked.body)).toMatch(/is revoked/);
    expect(listOf((await h.call('GET', '/api/v1/keys')).body).find((k) => k['id'] === id)?.['rpm']).toBe(5);

    // Admin only; PUT is not how a key is changed.
    const forbidden = await h.call('PATCH', `/api/v1/keys/${id}`, { key: h.inferenceKey, body: { rpm: 1 } });
    expect(forbidden.status).toBe(403);
    const put = await h.call('PUT', `/api/v1/keys/${id}`, { body: { rpm: 1 } });
    expect(put.status).toBe(405);
    expect(JSON.stringify(put.body)).toContain('PATCH');
  });

  it('keeps inference keys (also new ones) out of the management API with 403', async () => {
    const created = await h.call('POST', '/api/v1/keys', { body: { name: 'app-2' } });
    const secret = created.body['key'] as string;
    for (const key of [h.inferenceKey, secret]) {
      const keys = await h.call('GET', '/api/v1/keys', { key });
      expect(keys.status).toBe(403);
      expect(errorCode(keys.body)).toBe('forbidden');
      const create = await h.call('POST', '/api/v1/keys', { key, body: { name: 'sneaky', role: 'admin' } });
      expect(create.status).toBe(403);
      expect((await h.call('GET', '/api/v1/deployments', { key })).status).toBe(403);
    }
  });

  it('revokes a key so that it stops working; unknown ids are 404; the last admin key stays', async () => {
    const created = await h.call('POST', '/api/v1/keys', { body: { name: 'ops', role: 'admin' } });
    const secret = created.body['key'] as string;
    const id = created.body['id'] as string;
    expect(secret).toMatch(/^ef_admin_/);
    expect((await h.call('GET', '/api/v1/keys', { key: secret })).status).toBe(200);

    const revoked = await h.call('DELETE', `/api/v1/keys/${id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id, object: 'api_key', revoked: true });
    expect(typeof revoked.body['revokedAtMs']).toBe('number');
    const after = await h.call('GET', '/api/v1/keys', { key: secret });
    expect(after.status).toBe(401);
    expect(errorCode(after.body)).toBe('unauthorized');
    const listed = listOf((await h.call('GET', '/api/v1/keys')).body).find(
      (k) => k['id'] === id,
    ) as JsonObject;
    expect(listed['revokedAtMs']).toBe(revoked.body['revokedAtMs']);

    // A name is one active key's: taken while that key is active, free again once it is revoked.
    const twin = await h.call('POST', '/api/v1/keys', { body: { name: 'app-2' } });
    expect(twin.status).toBe(409);
    expect(errorCode(twin.body)).toBe('conflict');
    expect(JSON.stringify(twin.body)).toMatch(
      /an API key named \\"app-2\\" exists \(id [^)]+\); revoke it first/,
    );
    expect((await h.call('POST', '/api/v1/keys', { body: { name: 'ops' } })).status).toBe(201);

    const missing = await h.call('DELETE', '/api/v1/keys/no-such-key');
    expect(missing.status).toBe(404);
    expect(errorCode(missing.body)).toBe('not_found');

    const admins = listOf((await h.call('GET', '/api/v1/keys')).body).filter(
      (k) => k['role'] === 'admin' && k['revokedAtMs'] === null,
    );
    expect(admins).toHaveLength(1);
    const last = await h.call('DELETE', `/api/v1/keys/${admins[0]!['id'] as string}`);
    expect(last.status).toBe(409);
    expect((await h.call('GET', '/api/v1/keys')).status).toBe(200);
  });
});
