import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  errorCode,
  listOf,
  registerBody,
  startHarness,
  type Harness,
  type JsonObject,
  harnessStores,
} from './server-harness.js';
import { settleMs } from '../../src/control/server/rolling-update.js';

/**
 * `PATCH /api/v1/nodes/:id` against the real control server, its reconciler and store (SQLite and
 * PostgreSQL): a cordoned node takes nothing new and keeps what it runs; a draining node's instances are
 * placed elsewhere and each is retired only once its replacement has served long enough for gateways to
 * know it; with no room elsewhere they keep serving and the deployment says why; `null` returns the node.
 */
const stores = harnessStores();

describe.each(stores)('cordoning and draining nodes on %s', (_label, databaseUrl) => {
  let h: Harness;
  const nodes: Record<string, { nodeId: string; credential: string }> = {};

  beforeAll(async () => {
    h = await startHarness(await databaseUrl());
    for (const name of ['a-1', 'b-1']) {
      const registered = await h.call('POST', '/api/v1/worker/register', {
        key: null,
        body: registerBody(await h.newJoinToken(), name, 'room'),
      });
      expect(registered.status).toBe(200);
      nodes[name] = registered.body as { nodeId: string; credential: string };
    }
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A heartbeat from `node` reporting `instances`; the answer's instance ids are what it should run. */
  const heartbeat = async (node: string, instances: JsonObject[] = []) => {
    const answer = await h.call('POST', '/api/v1/worker/heartbeat', {
      key: nodes[node]!.credential,
      body: { instances },
    });
    expect(answer.status).toBe(200);
    return (answer.body['instances'] as JsonObject[]).map((i) => i['id']);
  };
  const instancesOf = async (id: string) =>
    listOf((await h.call('GET', `/api/v1/instances?deployment=${id}`)).body);
  const deployment = async (id: string) => (await h.call('GET', `/api/v1/deployments/${id}`)).body;
  /** Reports every instance of the deployment on `node` as running. */
  const runAll = async (node: string, id: string) => {
    const mine = (await instancesOf(id)).filter((i) => i['nodeId'] === nodes[node]!.nodeId);
    return heartbeat(
      node,
      mine.map((i, n) => ({ id: i['id'], state: 'running', port: 8100 + n })),
    );
  };
  const patch = (node: string, body: unknown, key?: string | null) =>
    h.call('PATCH', `/api/v1/nodes/${node}`, { body, ...(key !== undefined && { key }) });
  const deploy = async (name: string, replicas: number) => {
    const created = await h.call('POST', '/api/v1/deployments', {
      body: { name, model: 'deepseek-r1-distill-qwen-1.5b', quant: 'q4_k_m', replicas },
    });
    expect(created.status).toBe(201);
    return created.body['id'] as string;
  };
  const nodeIdsOf = async (id: string) => (await instancesOf(id)).map((i) => i['nodeId']);

  it('refuses bad requests: no key, not an admin, bad bodies, unknown nodes', async () => {
    const a = nodes['a-1']!.nodeId;
    expect((await patch(a, { maintenance: 'cordoned' }, null)).status).toBe(401);
    expect((await patch(a, { maintenance: 'cordoned' }, h.inferenceKey)).status).toBe(403);
    for (const [body, code] of [
      [{}, 'invalid_request'],
      [{ maintenance: 'off' }, 'invalid_request'],
      [[], 'invalid_request'],
      [{ maintenance: 'draining', extra: 1 }, 'unsupported_parameter'],
    ] as const) {
      const refused = await patch(a, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(errorCode(refused.body), JSON.stringify(refused.body)).toBe(code);
    }
    const unknown = await patch('no-such-node', { maintenance: 'cordoned' });
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown.body)).toBe('not_found');
    expect((await h.call('POST', `/api/v1/nodes/${a}`, { body: {} })).status).toBe(405);
    expect((await h.store.getNode(a))?.maintenance).toBeNull();
  });

  it('a cordoned node keeps what it runs and takes nothing new', async () => {
    const id = await deploy('chat', 2);
    await h.control.reconcile();
    // Spread: one replica on each node.
    expect((await nodeIdsOf(id)).sort()).toEqual([nodes['a-1']!.nodeId, nodes['b-1']!.nodeId].sort());
    await runAll('a-1', id);
    await runAll('b-1', id);

    const cordoned = await patch(nodes['a-1']!.nodeId, { maintenance: 'cordoned' });
    expect(cordoned.status).toBe(200);
    const onA = (await instancesOf(id)).find((i) => i['nodeId'] === nodes['a-1']!.nodeId);
    expect(cordoned.body).toMatchObject({
      id: nodes['a-1']!.nodeId,
      maintenance: 'cordoned',
      instances: [onA?.['id']],
    });
    expect(cordoned.body['credentialHash']).toBeUndefined();
    const listed = listOf((await h.call('GET', '/api/v1/nodes')).body);
    expect(listed.map((n) => [n['name'], n['maintenance']])).toEqual([
      ['a-1', 'cordoned'],
      ['b-1', null],
    ]);

    const metrics = await (
      await fetch(`${h.baseUrl}/metrics`, { headers: { authorization: `Bearer ${h.adminKey}` } })
    ).text();
    expect(metrics).toContain('edgefleet_nodes_maintenance{maintenance="cordoned"} 1');
    expect(metrics).toContain('edgefleet_nodes_maintenance{maintenance="draining"} 0');

    const pass = await h.control.reconcile();
    expect(pass.instancesRemoved).toEqual([]);
    expect(pass.instancesCreated).toEqual([]);
    expect(await heartbeat('a-1')).toEqual([onA?.['id']]);
    // A new deployment spreads over the schedulable node only.
    const other = await deploy('other', 2);
    await h.control.reconcile();
    expect(await nodeIdsOf(other)).toEqual([nodes['b-1']!.nodeId, nodes['b-1']!.nodeId]);
    expect((await h.call('DELETE', `/api/v1/deployments/${other}`)).status).toBe(200);
  });

  it('a draining node hands its instances over, each retired once its replacement serves', async () => {
    const id = listOf((await h.call('GET', '/api/v1/deployments')).body).find((d) => d['name'] === 'chat')?.[
      'id'
    ] as string;
    const [old] = (await instancesOf(id)).filter((i) => i['nodeId'] === nodes['a-1']!.nodeId);
    const drained = await patch(nodes['a-1']!.nodeId, { maintenance: 'draining' });
    expect(drained.body).toMatchObject({ maintenance: 'draining', instances: [old?.['id']] });

    const pass = await h.control.reconcile();
    expect(pass.instancesRemoved).toEqual([]);
    expect(pass.instancesCreated).toHaveLength(1);
    const moved = (await instancesOf(id)).find((i) => i['id'] === pass.instancesCreated[0]);
    expect(moved).toMatchObject({ nodeId: nodes['b-1']!.nodeId, state: 'scheduled' });
    expect(await deployment(id)).toMatchObject({
      status: 'running',
      statusReason: 'moving off draining node(s): 1 of 2 replica(s) elsewhere running; 1 still serving there',
    });
    // The old one serves until its replacement runs, and then until gateways know the replacement.
    expect(await heartbeat('a-1', [{ id: old?.['id'], state: 'running', port: 8100 }])).toEqual([
      old?.['id'],
    ]);
    await runAll('b-1', id);
    expect((await h.control.reconcile()).instancesRemoved).toEqual([]);
    h.clock.now += settleMs;
    await heartbeat('a-1', [{ id: old?.['id'], state: 'running', port: 8100 }]);
    await runAll('b-1', id);
    expect((await h.control.reconcile()).instancesRemoved).toEqual([old?.['id']]);
    // The worker is told to stop it (it drains its answers first), and reports it until it has stopped;
    // nothing is placed there again.
    const enginesOnA = async () =>
      listOf((await h.call('GET', '/api/v1/nodes')).body).find((n) => n['name'] === 'a-1')?.['engines'];
    expect(await enginesOnA()).toBe(1);
    expect(await heartbeat('a-1', [{ id: old?.['id'], state: 'stopping' }])).toEqual([]);
    expect(await enginesOnA()).toBe(1);
    expect(await heartbeat('a-1')).toEqual([]);
    expect(await enginesOnA()).toBe(0);
    expect(await nodeIdsOf(id)).toEqual([nodes['b-1']!.nodeId, nodes['b-1']!.nodeId]);
    expect((await h.control.reconcile()).instancesCreated).toEqual([]);
    expect(await deployment(id)).toMatchObject({ status: 'running', statusReason: null });
    const node = await patch(nodes['a-1']!.nodeId, { maintenance: 'draining' });
    expect(node.body['instances']).toEqual([]);
  });

  it('with no room elsewhere the instances keep serving, and the deployment says why', async () => {
    const id = listOf((await h.call('GET', '/api/v1/deployments')).body).find((d) => d['name'] === 'chat')?.[
      'id'
    ] as string;
    expect((await patch(nodes['b-1']!.nodeId, { maintenance: 'draining' })).status).toBe(200);
    const pass = await h.control.reconcile();
    expect(pass.instancesRemoved).toEqual([]);
    expect(pass.instancesCreated).toEqual([]);
    expect(await nodeIdsOf(id)).toEqual([nodes['b-1']!.nodeId, nodes['b-1']!.nodeId]);
    const { statusReason } = await deployment(id);
    expect(statusReason).toContain('moving off draining node(s): 0 of 2 replica(s) elsewhere running');
    expect(statusReason).toContain(
      '2 replica(s) unplaced: no node is up and schedulable: 2 cordoned or draining',
    );

    // The preview plans as the reconciler does.
    const preview = await h.call('POST', '/api/v1/deployments/preview', {
      body: { name: 'more', model: 'deepseek-r1-distill-qwen-1.5b', quant: 'q4_k_m', replicas: 1 },
    });
    expect(preview.body).toMatchObject({ fits: false, placements: [] });
    expect(JSON.stringify(preview.body['reasons'])).toContain('no node is up and schedulable');

    // Back in service: a-1 takes the replicas, then b-1's are retired.
    const back = await patch(nodes['a-1']!.nodeId, { maintenance: null });
    expect(back.body).toMatchObject({ maintenance: null });
    const placed = await h.control.reconcile();
    expect(placed.instancesCreated).toHaveLength(2);
    await runAll('a-1', id);
    expect((await h.control.reconcile()).instancesRemoved).toEqual([]);
    h.clock.now += settleMs;
    await runAll('a-1', id);
    await runAll('b-1', id);
    expect((await h.control.reconcile()).instancesRemoved).toHaveLength(2);
    expect(await nodeIdsOf(id)).toEqual([nodes['a-1']!.nodeId, nodes['a-1']!.nodeId]);
  });
});
