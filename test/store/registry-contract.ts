import { expect, it } from 'vitest';
import { EdgeFleetError } from '../../src/spec/edgefleet-error.js';
import type { Store } from '../../src/store/store.js';
import { rejectsWithCode, type ContractHarness } from './contract-harness.js';

const gpu = (index: number, memoryBytes = 80 * 2 ** 30) => ({
  index,
  vendor: 'nvidia',
  kind: 'gpu',
  name: 'NVIDIA H20',
  memoryBytes,
  hardwareId: index === 0 ? 'nvidia-h20' : null,
});

async function seedNode(store: Store, name = 'node-a', siteName = 'room-1') {
  const site = await store.upsertSite({ name: siteName, region: 'east' });
  const node = await store.registerNode({
    siteId: site.id,
    name,
    address: `10.0.0.1:${name.length}`,
    credentialHash: `cred-${name}`,
    labels: { rack: '7' },
    devices: [gpu(0), gpu(1)],
    atMs: 1_000,
  });
  return { site, node };
}

/** Sites, nodes, devices, deployments and instances. */
export function registryContract(h: ContractHarness): void {
  it('upserts sites by name, keeping the id and filling the region', async () => {
    const store = await h.open();
    const first = await store.upsertSite({ name: 'room-1' });
    expect(first).toMatchObject({ name: 'room-1', region: null });
    const again = await store.upsertSite({ name: 'room-1', region: 'east' });
    expect(again.id).toBe(first.id);
    expect(again.region).toBe('east');
    expect((await store.upsertSite({ name: 'room-1' })).region).toBe('east');
    await store.upsertSite({ id: 'site-0', name: 'a-room' });
    expect((await store.listSites()).map((s) => s.name)).toEqual(['a-room', 'room-1']);
    expect(await store.getSite('site-0')).toMatchObject({ id: 'site-0', name: 'a-room' });
    expect(await store.getSite('nope')).toBeNull();
  });

  it('registers nodes with devices and re-registers them in place', async () => {
    const store = await h.open();
    const { site, node } = await seedNode(store);
    expect(node).toMatchObject({
      siteId: site.id,
      status: 'up',
      downReason: null,
      lastHeartbeatAtMs: 1_000,
      labels: { rack: '7' },
      revokedAtMs: null,
    });
    expect(await store.getNode(node.id)).toEqual(node);
    expect(await store.listDevices(node.id)).toEqual([
      { nodeId: node.id, ...gpu(0) },
      { nodeId: node.id, ...gpu(1) },
    ]);
    await store.setNodeStatus(node.id, 'down', 'left');
    const again = await store.registerNode({
      id: node.id,
      siteId: site.id,
      name: 'node-a2',
      address: '10.0.0.2:9000',
      credentialHash: 'cred-new',
      devices: [gpu(0, 96 * 2 ** 30)],
      atMs: 2_000,
    });
    expect(again).toMatchObject({
      id: node.id,
      name: 'node-a2',
      labels: {},
      createdAtMs: 1_000,
      status: 'up',
      downReason: null,
    });
    expect((await store.listDevices(node.id)).map((d) => d.memoryBytes)).toEqual([96 * 2 ** 30]);
    expect(await store.listDevices()).toHaveLength(1);
    await rejectsWithCode(
      store.registerNode({ siteId: 'no-site', name: 'x', address: 'x', credentialHash: 'c', devices: [] }),
      'not_found',
    );
  });

  it('lists nodes by site and finds them by credential', async () => {
    const store = await h.open();
    const { node: a } = await seedNode(store, 'node-a', 'room-1');
    const { node: b, site: room2 } = await seedNode(store, 'node-b', 'room-2');
    expect((await store.listNodes()).map((n) => n.id)).toEqual([a.id, b.id]);
    expect((await store.listNodes({ siteId: room2.id })).map((n) => n.id)).toEqual([b.id]);
    expect((await store.findNodeByCredentialHash('cred-node-b'))?.id).toBe(b.id);
    expect(await store.findNodeByCredentialHash('cred-unknown')).toBeNull();
  });

  it('records heartbeats and lists nodes not seen since a time', async () => {
    const store = await h.open();
    const { node: a } = await seedNode(store, 'node-a');
    const { node: b } = await seedNode(store, 'node-b');
    await store.recordHeartbeat(a.id, 5_000);
    expect((await store.getNode(a.id))?.lastHeartbeatAtMs).toBe(5_000);
    expect((await store.listNodesNotSeenSince(4_000)).map((n) => n.id)).toEqual([b.id]);
    expect((await store.getNode(b.id))?.downReason).toBeNull();
    await store.setNodeStatus(b.id, 'down', 'no_heartbeat');
    expect(await store.listNodesNotSeenSince(4_000)).toEqual([]);
    expect(await store.getNode(b.id)).toMatchObject({ status: 'down', downReason: 'no_heartbeat' });
    await store.setNodeStatus(b.id, 'down', 'left');
    expect((await store.getNode(b.id))?.downReason).toBe('left');
    // A heartbeat brings it back up and clears the reason; so does marking it up.
    await store.recordHeartbeat(b.id, 6_000);
    expect(await store.getNode(b.id)).toMatchObject({ status: 'up', downReason: null });
    await store.setNodeStatus(a.id, 'down', 'left');
    await store.setNodeStatus(a.id, 'up', 'left');
    expect(await store.getNode(a.id)).toMatchObject({ status: 'up', downReason: null });
    await rejectsWithCode(store.recordHeartbeat('nope'), 'not_found');
    await rejectsWithCode(store.setNodeStatus('nope', 'down'), 'not_found');
  });

  it('cordons and drains a node, keeping it when the worker registers again', async () => {
    const store = await h.open();
    const { site, node } = await seedNode(store);
    expect(node.maintenance).toBeNull();
    await store.setNodeMaintenance(node.id, 'cordoned');
    expect((await store.getNode(node.id))?.maintenance).toBe('cordoned');
    await store.setNodeMaintenance(node.id, 'draining');
    const again = await store.registerNode({
      id: node.id,
      siteId: site.id,
      name: node.name,
      address: node.address,
      credentialHash: node.credentialHash,
      devices: [gpu(0)],
    });
    expect(again.maintenance).toBe('draining');
    expect((await store.listNodes())[0]?.maintenance).toBe('draining');
    await store.setNodeMaintenance(node.id, null);
    expect((await store.getNode(node.id))?.maintenance).toBeNull();
    await rejectsWithCode(store.setNodeMaintenance('nope', 'cordoned'), 'not_found');
    await store.revokeNode(node.id);
    await rejectsWithCode(store.setNodeMaintenance(node.id, 'cordoned'), 'not_found');
  });

  it('revokes a node: its credential and heartbeats stop working', async () => {
    const store = await h.open();
    const { node } = await seedNode(store);
    await store.revokeNode(node.id, 9_000);
    expect(await store.getNode(node.id)).toMatchObject({
      revokedAtMs: 9_000,
      status: 'down',
      downReason: 'revoked',
    });
    // A leaving heartbeat or a reconciler pass that read the node before it was revoked changes nothing.
    await store.setNodeStatus(node.id, 'down', 'left');
    expect((await store.getNode(node.id))?.downReason).toBe('revoked');
    expect(await store.findNodeByCredentialHash(node.credentialHash)).toBeNull();
    await rejectsWithCode(store.recordHeartbeat(node.id), 'not_found');
    expect(await store.listNodesNotSeenSince(Number.MAX_SAFE_INTEGER)).toEqual([]);
    await rejectsWithCode(store.revokeNode('nope'), 'not_found');
  });

  it('creates deployments and refuses a taken name with conflict', async () => {
    const store = await h.open();
    const created = await store.createDeployment({
      name: 'deepseek-r1-7b',
      modelRef: 'deepseek-r1-distill-qwen-7b',
      quant: 'Q4_K_M',
      replicas: 2,
      siteConstraints: ['room-1'],
    });
    expect(created).toMatchObject({
      engine: null,
      status: 'pending',
      statusReason: null,
      siteConstraints: ['room-1'],
    });
    expect(await store.getDeployment(created.id)).toEqual(created);
    expect(await store.getDeploymentByName('deepseek-r1-7b')).toEqual(created);
    expect(await store.getDeploymentByName('nope')).toBeNull();
    const error = await rejectsWithCode(
      store.createDeployment({ name: 'deepseek-r1-7b', modelRef: 'other', replicas: 1 }),
      'conflict',
    );
    expect(error).toBeInstanceOf(EdgeFleetError);
    expect((error as EdgeFleetError).status).toBe(409);
    const raced = await Promise.allSettled(
      [1, 2, 3].map((n) => store.createDeployment({ name: 'raced', modelRef: `m${n}`, replicas: 1 })),
    );
    expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await store.listDeployments()).map((d) => d.name).sort()).toEqual(['deepseek-r1-7b', 'raced']);
  });

  it('updates and deletes deployments, deleting their instances', async () => {
    const store = await h.open();
    const deployment = await store.createDeployment({ name: 'd', modelRef: 'm', replicas: 1 });
    const updated = await store.updateDeployment(deployment.id, {
      replicas: 3,
      status: 'pending',
      statusReason: 'fits nowhere: needs 140 GB',
    });
    expect(updated).toMatchObject({ replicas: 3, statusReason: 'fits nowhere: needs 140 GB', engine: null });
    expect((await store.updateDeployment(deployment.id, { statusReason: null })).statusReason).toBeNull();
    await rejectsWithCode(store.updateDeployment('nope', { replicas: 1 }), 'not_found');
    const instance = await store.createInstance({ deploymentId: deployment.id, engine: 'llama-server' });
    expect(await store.deleteDeployment(deployment.id)).toBe(true);
    expect(await store.getInstance(instance.id)).toBeNull();
    expect(await store.deleteDeployment(deployment.id)).toBe(false);
  });

  it('keeps scale-to-zero settings and the last request time of a deployment', async () => {
    const store = await h.open();
    const always = await store.createDeployment({ name: 'always', modelRef: 'm', replicas: 2 });
    expect(always).toMatchObject({ minReplicas: 2, idleTimeoutMs: 600_000, lastRequestAtMs: null });
    const idle = await store.createDeployment({
      name: 'idle',
      modelRef: 'm',
      replicas: 1,
      minReplicas: 0,
      idleTimeoutMs: 2_000,
    });
    expect(idle).toMatchObject({ replicas: 1, minReplicas: 0, idleTimeoutMs: 2_000, lastRequestAtMs: null });
    await store.touchDeployment(idle.id, 9_000);
    await store.touchDeployment(idle.id, 8_000);
    await store.touchDeployment('no-such-deployment', 8_000);
    const touched = await store.getDeployment(idle.id);
    expect(touched).toMatchObject({ lastRequestAtMs: 9_000, updatedAtMs: idle.updatedAtMs });
    const patched = await store.updateDeployment(idle.id, { minReplicas: 1, idleTimeoutMs: 60_000 });
    expect(patched).toMatchObject({ minReplicas: 1, idleTimeoutMs: 60_000, lastRequestAtMs: 9_000 });
    expect((await store.listDeployments()).find((d) => d.id === idle.id)).toEqual(patched);
  });

  it("keeps a deployment's own context, or none (the control plane's default)", async () => {
    const store = await h.open();
    const short = await store.createDeployment({
      name: 'short',
      modelRef: 'm',
      replicas: 1,
      contextTokens: 512,
    });
    const plain = await store.createDeployment({ name: 'plain', modelRef: 'm', replicas: 1 });
    expect(short.contextTokens).toBe(512);
    expect(plain.contextTokens).toBeNull();
    expect((await store.getDeployment(short.id))?.contextTokens).toBe(512);
    const listed = await store.listDeployments(); // same millisecond: in id order, not creation order
    expect(listed.find((d) => d.id === short.id)?.contextTokens).toBe(512);
    expect(listed.find((d) => d.id === plain.id)?.contextTokens).toBeNull();
  });

  it('creates, lists and deletes instances', async () => {
    const store = await h.open();
    const { node } = await seedNode(store);
    const d1 = await store.createDeployment({ name: 'd1', modelRef: 'm', replicas: 2 });
    const d2 = await store.createDeployment({ name: 'd2', modelRef: 'm', replicas: 1 });
    const placed = await store.createInstance({
      deploymentId: d1.id,
      nodeId: node.id,
      state: 'scheduled',
      engine: 'vllm',
      port: 8001,
      allocations: [{ deviceIndex: 0, memoryBytes: 40 * 2 ** 30 }],
    });
    expect(placed).toMatchObject({ version: 1, restarts: 0, lastError: null, downloadedBytes: null });
    expect(placed.allocations).toEqual([{ deviceIndex: 0, memoryBytes: 40 * 2 ** 30 }]);
    const pending = await store.createInstance({ deploymentId: d1.id, engine: 'vllm' });
    const other = await store.createInstance({ deploymentId: d2.id, engine: 'embedded', nodeId: node.id });
    expect(pending).toMatchObject({ state: 'pending', nodeId: null, port: null, allocations: [] });
    expect(await store.listInstances()).toHaveLength(3);
    expect((await store.listInstances({ deploymentId: d1.id })).map((i) => i.id).sort()).toEqual(
      [placed.id, pending.id].sort(),
    );
    expect((await store.listInstances({ nodeId: node.id, deploymentId: d2.id })).map((i) => i.id)).toEqual([
      other.id,
    ]);
    await rejectsWithCode(store.createInstance({ deploymentId: 'nope', engine: 'x' }), 'not_found');
    await rejectsWithCode(
      store.createInstance({ deploymentId: d1.id, engine: 'x', id: placed.id }),
      'conflict',
    );
    expect(await store.deleteInstance(other.id)).toBe(true);
    expect(await store.deleteInstance(other.id)).toBe(false);
  });

  it('updates instances with an optimistic version check', async () => {
    const store = await h.open();
    const { node } = await seedNode(store);
    const deployment = await store.createDeployment({ name: 'd', modelRef: 'm', replicas: 1 });
    const instance = await store.createInstance({ deploymentId: deployment.id, engine: 'llama-server' });
    const downloading = await store.updateInstance(instance.id, 1, {
      nodeId: node.id,
      state: 'downloading',
      downloadedBytes: 5 * 2 ** 30,
      downloadTotalBytes: 8 * 2 ** 30,
    });
    expect(downloading).toMatchObject({ version: 2, state: 'downloading', downloadedBytes: 5 * 2 ** 30 });
    const error = await rejectsWithCode(
      store.updateInstance(instance.id, 1, { state: 'running' }),
      'conflict',
    );
    expect((error as EdgeFleetError).data).toMatchObject({ expectedVersion: 1, actualVersion: 2 });
    const racers = await Promise.allSettled([
      store.updateInstance(instance.id, 2, { state: 'running', port: 9000 }),
      store.updateInstance(instance.id, 2, { state: 'failed', lastError: 'oom', restarts: 1 }),
    ]);
    expect(racers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const final = await store.getInstance(instance.id);
    expect(final?.version).toBe(3);
    expect(final?.nodeId).toBe(node.id);
    await rejectsWithCode(store.updateInstance('nope', 1, { state: 'running' }), 'not_found');
  });
}
