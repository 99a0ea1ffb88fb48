import { afterAll, describe, expect, it } from 'vitest';
import { makeTestModel } from '../helpers/models.js';
import {
  errorCode,
  listOf,
  registerBody,
  startHarness,
  type Harness,
  type JsonObject,
  harnessStores,
} from './server-harness.js';

const stores = harnessStores();

async function register(h: Harness, name: string, site: string) {
  const response = await h.call('POST', '/api/v1/worker/register', {
    key: null,
    body: registerBody(await h.newJoinToken(), name, site),
  });
  expect(response.status).toBe(200);
  return response.body as { nodeId: string; credential: string };
}

async function heartbeat(h: Harness, credential: string, instances: JsonObject[] = []) {
  return h.call('POST', '/api/v1/worker/heartbeat', { key: credential, body: { instances } });
}

/** `edgefleet_nodes_down{reason}` as /metrics reports it, with what the node list says it must be. */
async function downMetrics(h: Harness) {
  const text = await (
    await fetch(`${h.baseUrl}/metrics`, { headers: { authorization: `Bearer ${h.adminKey}` } })
  ).text();
  const nodes = listOf((await h.call('GET', '/api/v1/nodes')).body); // revoked nodes are not listed
  const reasons = ['left', 'no_heartbeat', 'unknown'];
  const reported = reasons.map((reason) => {
    const line = text.split('\n').find((l) => l.startsWith(`edgefleet_nodes_down{reason="${reason}"} `));
    return Number(line?.split(' ')[1]);
  });
  const expected = reasons.map(
    (reason) =>
      nodes.filter((n) => n['status'] === 'down' && (n['downReason'] ?? 'unknown') === reason).length,
  );
  return { reported, expected };
}

describe.each(stores)('worker protocol and reconciler on %s', (label, databaseUrl) => {
  let h: Harness;
  let url: string | undefined;
  afterAll(async () => {
    await h?.close();
  });

  it('exchanges a join token once for a node credential', async () => {
    url = await databaseUrl();
    h = await startHarness(url);
    const joinToken = await h.newJoinToken();
    const first = await h.call('POST', '/api/v1/worker/register', {
      key: null,
      body: registerBody(joinToken, 'bj-1', 'beijing'),
    });
    expect(first.status).toBe(200);
    expect(first.body['credential']).toMatch(/^ef_node_/);
    const again = await h.call('POST', '/api/v1/worker/register', {
      key: null,
      body: registerBody(joinToken, 'bj-9', 'beijing'),
    });
    expect(again.status).toBe(401);
    expect(JSON.stringify(again.body)).toContain('used');
    const bad = await h.call('POST', '/api/v1/worker/register', {
      key: null,
      body: registerBody('ef_join_nope', 'bj-9', 'beijing'),
    });
    expect(bad.status).toBe(401);
    expect((await heartbeat(h, 'ef_node_nope')).status).toBe(401);
    expect(errorCode((await h.call('POST', '/api/v1/worker/heartbeat', { key: null, body: {} })).body)).toBe(
      'unauthorized',
    );

    const nodes = listOf((await h.call('GET', '/api/v1/nodes')).body);
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ name: 'bj-1', status: 'up' });
    expect(nodes[0]).not.toHaveProperty('credentialHash');
    expect((nodes[0]?.['devices'] as JsonObject[]).map((d) => d['kind'])).toEqual(['gpu', 'cpu']);
    expect(listOf((await h.call('GET', '/api/v1/sites')).body).map((s) => s['name'])).toEqual(['beijing']);
  });

  it('assigns an instance, re-places it when its node stops heartbeating, and refuses a revoked node', async () => {
    const a = await register(h, 'a-1', 'site-a');
    const b = await register(h, 'b-1', 'site-b');
    const created = await h.call('POST', '/api/v1/deployments', {
      body: {
        name: 'chat',
        model: 'deepseek-r1-distill-qwen-7b',
        quant: 'q4_k_m',
        replicas: 1,
        sites: ['site-a', 'site-b'],
      },
    });
    expect(created.status).toBe(201);
    const deploymentId = created.body['id'] as string;

    const pass = await h.control.reconcile();
    expect(pass.leader).toBe(true);
    expect(pass.instancesCreated).toHaveLength(1);
    const [instance] = listOf((await h.call('GET', `/api/v1/instances?deployment=${deploymentId}`)).body);
    expect(instance).toMatchObject({ state: 'scheduled', deploymentId });
    const owner = instance?.['nodeId'] === a.nodeId ? a : b;
    const other = owner === a ? b : a;

    const desired = await heartbeat(h, owner.credential, [
      {
        id: instance?.['id'],
        state: 'downloading',
        downloadProgress: { downloadedBytes: 10, totalBytes: 100 },
      },
    ]);
    expect(desired.status).toBe(200);
    expect(desired.body['instances']).toEqual([
      expect.objectContaining({
        id: instance?.['id'],
        deploymentId,
        modelRef: 'deepseek-r1-distill-qwen-7b',
        servedName: 'chat',
        quant: 'q4_k_m',
        deviceIndexes: [0],
        contextTokens: 4096,
      }),
    ]);
    expect((await heartbeat(h, other.credential)).body['instances']).toEqual([]);
    const stored = await h.store.getInstance(instance?.['id'] as string);
    expect(stored).toMatchObject({ state: 'downloading', downloadedBytes: 10, downloadTotalBytes: 100 });
    expect((await h.control.reconcile()).instancesCreated).toEqual([]);

    // The owner goes silent; the other node keeps heartbeating.
    h.clock.now += 20_000;
    await heartbeat(h, other.credential);
    const failover = await h.control.reconcile();
    // bj-1 of the first test is silent too.
    expect(failover.nodesMarkedDown).toContain(owner.nodeId);
    expect(failover.nodesMarkedDown).not.toContain(other.nodeId);
    expect(failover.instancesRemoved).toEqual([instance?.['id']]);
    expect(failover.instancesCreated).toHaveLength(1);
    const replaced = listOf((await h.call('GET', `/api/v1/instances?deployment=${deploymentId}`)).body);
    expect(replaced).toHaveLength(1);
    expect(replaced[0]?.['nodeId']).toBe(other.nodeId);
    const nodes = listOf((await h.call('GET', '/api/v1/nodes')).body);
    expect(nodes.find((n) => n['id'] === owner.nodeId)).toMatchObject({
      status: 'down',
      downReason: 'no_heartbeat',
    });
    expect(nodes.find((n) => n['id'] === other.nodeId)).toMatchObject({ status: 'up', downReason: null });
    const silent = await downMetrics(h);
    expect(silent.reported).toEqual(silent.expected);
    expect(silent.reported[1]).toBeGreaterThanOrEqual(1);

    // Running everywhere → deployment running.
    await heartbeat(h, other.credential, [{ id: replaced[0]?.['id'], state: 'running', port: 8101 }]);
    await h.control.reconcile();
    expect((await h.call('GET', `/api/v1/deployments/${deploymentId}`)).body).toMatchObject({
      status: 'running',
    });

    await h.store.revokeNode(other.nodeId);
    expect((await heartbeat(h, other.credential)).status).toBe(401);
  });

  it('keeps a deployment pending with a reason when it fits nowhere', async () => {
    const created = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'huge', model: 'deepseek-r1', replicas: 1 },
    });
    const url = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'remote', model: 'https://example.com/m.gguf', replicas: 1 },
    });
    await h.control.reconcile();
    const huge = (await h.call('GET', `/api/v1/deployments/${created.body['id'] as string}`)).body;
    expect(huge['status']).toBe('pending');
    expect(huge['statusReason']).toMatch(/unplaced/);
    const remote = (await h.call('GET', `/api/v1/deployments/${url.body['id'] as string}`)).body;
    expect(remote['statusReason']).toMatch(/model size unknown/);
  });

  it('places a GGUF file the control plane can read, sized from its header, on llama.cpp', async () => {
    const model = await makeTestModel();
    const node = await register(h, 'c-1', 'site-c');
    const created = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'tiny', model: model.path, replicas: 1, sites: ['site-c'] },
    });
    expect(created.status).toBe(201);
    await h.control.reconcile();
    const [instance] = listOf(
      (await h.call('GET', `/api/v1/instances?deployment=${created.body['id'] as string}`)).body,
    );
    expect(instance).toMatchObject({ nodeId: node.nodeId, engine: 'llama.cpp', state: 'scheduled' });

    // The node re-registers under the same name: same node id, the old credential stops working.
    const again = await register(h, 'c-1', 'site-c');
    expect(again.nodeId).toBe(node.nodeId);
    expect((await heartbeat(h, node.credential)).status).toBe(401);
    expect((await heartbeat(h, again.credential)).body['instances']).toEqual([
      expect.objectContaining({ id: instance?.['id'], modelRef: model.path, servedName: 'tiny' }),
    ]);
  });

  it('takes a leaving node down at once: its instance is placed elsewhere and leaves the route table', async () => {
    const d1 = await register(h, 'd-1', 'site-d');
    const d2 = await register(h, 'd-2', 'site-d');
    const created = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'leave', model: 'deepseek-r1-distill-qwen-7b', replicas: 1, sites: ['site-d'] },
    });
    const deploymentId = created.body['id'] as string;
    await h.control.reconcile();
    const list = async () =>
      listOf((await h.call('GET', `/api/v1/instances?deployment=${deploymentId}`)).body);
    const [first] = await list();
    const owner = first?.['nodeId'] === d1.nodeId ? d1 : d2;
    const other = owner === d1 ? d2 : d1;
    await heartbeat(h, owner.credential, [{ id: first?.['id'], state: 'running', port: 8101 }]);
    const routes = async () => JSON.stringify((await h.call('GET', '/api/v1/gateway/routes')).body);
    expect(await routes()).toContain(String(first?.['id']));

    // No clock advance: without `leaving` the node would stay up for the heartbeat timeout.
    const left = await h.call('POST', '/api/v1/worker/heartbeat', {
      key: owner.credential,
      body: { instances: [{ id: first?.['id'], state: 'stopping' }], leaving: true },
    });
    expect(left.status).toBe(200);
    expect(left.body['instances']).toEqual([]);
    const nodes = listOf((await h.call('GET', '/api/v1/nodes')).body);
    expect(nodes.find((n) => n['id'] === owner.nodeId)).toMatchObject({
      status: 'down',
      downReason: 'left',
      engines: 1,
    });
    const leftMetrics = await downMetrics(h);
    expect(leftMetrics.reported).toEqual(leftMetrics.expected);
    expect(leftMetrics.reported[0]).toBeGreaterThanOrEqual(1);
    expect(await routes()).not.toContain(String(first?.['id']));
    const pass = await h.control.reconcile();
    expect(pass.instancesRemoved).toEqual([first?.['id']]);
    const [moved] = await list();
    expect(moved?.['nodeId']).toBe(other.nodeId);
    // Its engines stopped: the last leaving heartbeat says so; the node stays down.
    const stopped = await h.call('POST', '/api/v1/worker/heartbeat', {
      key: owner.credential,
      body: { instances: [], leaving: true },
    });
    expect(stopped.body['instances']).toEqual([]);
    const nodeView = async () =>
      listOf((await h.call('GET', '/api/v1/nodes')).body).find((n) => n['id'] === owner.nodeId);
    expect(await nodeView()).toMatchObject({ status: 'down', engines: 0 });
    // A left node's count is believed only for as long as a worker takes to stop its engines.
    await h.call('POST', '/api/v1/worker/heartbeat', {
      key: owner.credential,
      body: { instances: [{ id: 'still-stopping', state: 'stopping' }], leaving: true },
    });
    expect(await nodeView()).toMatchObject({ status: 'down', engines: 1 });
    h.clock.now += 61_000;
    expect(await nodeView()).toMatchObject({ status: 'down', engines: null });

    // The worker starts again: its next heartbeat brings the node back up.
    await heartbeat(h, owner.credential);
    const back = listOf((await h.call('GET', '/api/v1/nodes')).body);
    expect(back.find((n) => n['id'] === owner.nodeId)).toMatchObject({ status: 'up', downReason: null });
    const bad = await h.call('POST', '/api/v1/worker/heartbeat', {
      key: owner.credential,
      body: { instances: [], leaving: 'yes' },
    });
    expect(bad.status).toBe(400);
  });

  it.runIf(label === 'PostgreSQL')(
    'lets only one of two servers on one database run the scheduler',
    async () => {
      const second = await startHarness(url);
      try {
        expect((await h.control.reconcile()).leader).toBe(true);
        expect((await second.control.reconcile()).leader).toBe(false);
        await h.store.releaseLeadership('scheduler');
        expect((await second.control.reconcile()).leader).toBe(true);
      } finally {
        await second.close();
      }
    },
  );
});
