import { afterAll, describe, expect, it } from 'vitest';
import {
  errorCode,
  listOf,
  registerBody,
  startHarness,
  type Harness,
  harnessStores,
} from './server-harness.js';

/**
 * `DELETE /api/v1/nodes/:id` over HTTP on SQLite and PostgreSQL: admin key required, unknown ids are 404,
 * the revoked node's credential stops working (heartbeat and re-register), it leaves the node list and the
 * scheduler, and its instances are placed on another node by the next reconcile pass.
 */
const stores = harnessStores();

async function register(h: Harness, name: string, site: string, joinToken?: string) {
  const response = await h.call('POST', '/api/v1/worker/register', {
    key: null,
    body: registerBody(joinToken ?? (await h.newJoinToken()), name, site),
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body as { nodeId: string; credential: string };
}

const heartbeat = (h: Harness, credential: string) =>
  h.call('POST', '/api/v1/worker/heartbeat', { key: credential, body: { instances: [] } });

describe.each(stores)('DELETE /api/v1/nodes/:id on %s', (_label, databaseUrl) => {
  let h: Harness;
  afterAll(async () => {
    await h?.close();
  });

  it('revokes a node: 401/404 checks, credential dead, instances re-placed, never scheduled again', async () => {
    h = await startHarness(await databaseUrl());
    const a = await register(h, 'a-1', 'room');
    const b = await register(h, 'b-1', 'room');

    const created = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'chat', model: 'deepseek-r1-distill-qwen-7b', quant: 'q4_k_m', replicas: 1 },
    });
    expect(created.status).toBe(201);
    const deploymentId = created.body['id'] as string;
    expect((await h.control.reconcile()).instancesCreated).toHaveLength(1);
    const instancesOf = async () =>
      listOf((await h.call('GET', `/api/v1/instances?deployment=${deploymentId}`)).body);
    const [placed] = await instancesOf();
    const owner = placed?.['nodeId'] === a.nodeId ? a : b;
    const other = owner === a ? b : a;

    // Auth and unknown ids.
    const noKey = await h.call('DELETE', `/api/v1/nodes/${owner.nodeId}`, { key: null });
    expect(noKey.status).toBe(401);
    const appKey = await h.call('DELETE', `/api/v1/nodes/${owner.nodeId}`, { key: h.inferenceKey });
    expect(appKey.status).toBe(403);
    const nodeKey = await h.call('DELETE', `/api/v1/nodes/${owner.nodeId}`, { key: owner.credential });
    expect(nodeKey.status).toBe(401);
    const unknown = await h.call('DELETE', '/api/v1/nodes/no-such-node');
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown.body)).toBe('not_found');
    expect((await h.call('GET', `/api/v1/nodes/${owner.nodeId}`)).status).toBe(405);
    expect((await heartbeat(h, owner.credential)).status).toBe(200);

    const revoked = await h.call('DELETE', `/api/v1/nodes/${owner.nodeId}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({
      id: owner.nodeId,
      object: 'node',
      deleted: true,
      instancesRemoved: [placed?.['id']],
    });
    // Its instance is gone at once (the gateway stops routing to it), not only after a reconcile pass.
    expect(await instancesOf()).toEqual([]);
    expect(await h.store.getNode(owner.nodeId)).toMatchObject({ status: 'down' });
    expect((await h.store.getNode(owner.nodeId))?.revokedAtMs).not.toBeNull();
    // A second revoke: the node is gone.
    expect((await h.call('DELETE', `/api/v1/nodes/${owner.nodeId}`)).status).toBe(404);

    // The old credential: heartbeat 401; used as a join token to re-register, 401 too.
    const beat = await heartbeat(h, owner.credential);
    expect(beat.status).toBe(401);
    expect(errorCode(beat.body)).toBe('unauthorized');
    const reRegister = await h.call('POST', '/api/v1/worker/register', {
      key: owner.credential,
      body: registerBody(owner.credential, owner === a ? 'a-1' : 'b-1', 'room'),
    });
    expect(reRegister.status).toBe(401);

    // No longer listed; the replica moves to the other node on the next pass.
    const listed = listOf((await h.call('GET', '/api/v1/nodes')).body).map((n) => n['id']);
    expect(listed).toEqual([other.nodeId]);
    const pass = await h.control.reconcile();
    expect(pass.instancesCreated).toHaveLength(1);
    const moved = await instancesOf();
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatchObject({ nodeId: other.nodeId, state: 'scheduled' });

    // Never scheduled again: a deployment with more replicas than live nodes lands only on the live one.
    const more = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'chat-2', model: 'deepseek-r1-distill-qwen-1.5b', quant: 'q4_k_m', replicas: 3 },
    });
    expect(more.status).toBe(201);
    await h.control.reconcile();
    const all = listOf((await h.call('GET', '/api/v1/instances')).body);
    expect(all.length).toBeGreaterThan(1);
    expect(all.every((i) => i['nodeId'] === other.nodeId)).toBe(true);
  });

  it('lets the machine join again only with a new join token, as a new node', async () => {
    const first = await register(h, 'c-1', 'room');
    expect((await h.call('DELETE', `/api/v1/nodes/${first.nodeId}`)).status).toBe(200);
    const again = await register(h, 'c-1', 'room');
    expect(again.nodeId).not.toBe(first.nodeId);
    expect((await heartbeat(h, again.credential)).status).toBe(200);
    expect((await heartbeat(h, first.credential)).status).toBe(401);
    const names = listOf((await h.call('GET', '/api/v1/nodes')).body)
      .filter((n) => n['name'] === 'c-1')
      .map((n) => n['id']);
    expect(names).toEqual([again.nodeId]);
  });
});
