import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listOf, registerBody, startHarness, type Harness, type JsonObject } from './server-harness.js';

/**
 * A model too big for any one node is placed on two (vLLM, pipeline parallel across nodes): the store
 * records the memory on both, each node's heartbeat tells it its rank and the head's address, the
 * second node's devices are not handed out again, and losing either node loses the instance.
 */
describe('multi-node instances', () => {
  let h: Harness;
  const a100 = (name: string) => {
    const body = registerBody('', name, 'hall', 1);
    body.devices = [
      {
        index: 0,
        vendor: 'nvidia',
        kind: 'gpu',
        name: 'NVIDIA A100-SXM4-40GB',
        memoryBytes: 42_949_672_960,
        hardwareId: 'a100-40gb',
      },
    ];
    return body;
  };
  const register = async (name: string) => {
    const response = await h.call('POST', '/api/v1/worker/register', {
      key: null,
      body: { ...a100(name), joinToken: await h.newJoinToken() },
    });
    expect(response.status).toBe(200);
    return response.body as { nodeId: string; credential: string };
  };
  const heartbeat = async (credential: string) => {
    const response = await h.call('POST', '/api/v1/worker/heartbeat', {
      key: credential,
      body: { instances: [] },
    });
    expect(response.status).toBe(200);
    return response.body['instances'] as JsonObject[];
  };

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('spans two nodes, tells each its rank, and never hands the second node out twice', async () => {
    const n1 = await register('n1');
    const n2 = await register('n2');
    const created = await h.call('POST', '/api/v1/deployments', {
      body: {
        name: 'r1-32b',
        model: 'deepseek-r1-distill-qwen-32b',
        quant: 'bf16',
        engine: 'vllm',
        replicas: 1,
      },
    });
    expect(created.status).toBe(201);
    await h.control.reconcile();
    const [instance] = listOf((await h.call('GET', '/api/v1/instances')).body);
    const head = instance?.['nodeId'];
    expect([n1.nodeId, n2.nodeId]).toContain(head);
    const other = head === n1.nodeId ? n2 : n1;
    const headCredential = head === n1.nodeId ? n1.credential : n2.credential;
    const allocations = instance?.['allocations'] as {
      deviceIndex: number;
      memoryBytes: number;
      nodeId?: string;
    }[];
    expect(allocations).toHaveLength(2);
    expect(allocations.filter((a) => a.nodeId === other.nodeId)).toHaveLength(1);

    const [asHead] = await heartbeat(headCredential);
    const [asFollower] = await heartbeat(other.credential);
    expect(asHead).toMatchObject({
      id: instance?.['id'],
      engine: 'vllm',
      deviceIndexes: [0],
      tensorParallelSize: 1,
      pipelineParallelSize: 2,
      multiNode: { nodeCount: 2, nodeRank: 0, masterAddr: `${head === n1.nodeId ? 'n1' : 'n2'}.local` },
    });
    expect(asFollower).toMatchObject({
      id: instance?.['id'],
      deviceIndexes: [0],
      multiNode: {
        nodeCount: 2,
        nodeRank: 1,
        masterAddr: (asHead?.['multiNode'] as JsonObject)['masterAddr'],
      },
    });
    const port = (asHead?.['multiNode'] as JsonObject)['masterPort'];
    expect((asFollower?.['multiNode'] as JsonObject)['masterPort']).toBe(port);

    // Both GPUs are taken: a second replica has nowhere to go.
    await h.call('POST', '/api/v1/deployments', {
      body: {
        name: 'r1-32b-b',
        model: 'deepseek-r1-distill-qwen-32b',
        quant: 'bf16',
        engine: 'vllm',
        replicas: 1,
      },
    });
    await h.control.reconcile();
    expect(listOf((await h.call('GET', '/api/v1/instances')).body)).toHaveLength(1);

    // The follower node goes silent: the instance is lost with it (and not re-placed: one node is too small).
    h.clock.now += 20_000;
    await heartbeat(headCredential);
    await h.control.reconcile();
    const left = listOf((await h.call('GET', '/api/v1/instances')).body);
    expect(left.find((i) => i['id'] === instance?.['id'])).toBeUndefined();
  });
});

describe('draining a node of a multi-node instance', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('keeps the instance serving while its replacement has no room, though removing it would make room', async () => {
    const nodes = new Map<string, { nodeId: string; credential: string }>();
    for (const name of ['m1', 'm2', 'm3']) {
      const body = registerBody(await h.newJoinToken(), name, 'hall', 1);
      body.devices = [{ ...body.devices[0]!, name: 'NVIDIA A100-SXM4-40GB', hardwareId: 'a100-40gb' }];
      body.devices[0]!.memoryBytes = 42_949_672_960;
      const response = await h.call('POST', '/api/v1/worker/register', { key: null, body });
      expect(response.status).toBe(200);
      nodes.set(name, response.body as { nodeId: string; credential: string });
    }
    const created = await h.call('POST', '/api/v1/deployments', {
      body: {
        name: 'big',
        model: 'deepseek-r1-distill-qwen-32b',
        quant: 'bf16',
        engine: 'vllm',
        replicas: 1,
      },
    });
    const id = created.body['id'] as string;
    await h.control.reconcile();
    const [instance] = listOf((await h.call('GET', '/api/v1/instances')).body);
    const allocations = instance?.['allocations'] as { nodeId?: string }[];
    const follower = allocations.map((a) => a.nodeId).find((n) => n !== undefined);
    const head = [...nodes.values()].find((n) => n.nodeId === instance?.['nodeId'])!;
    const beat = await h.call('POST', '/api/v1/worker/heartbeat', {
      key: head.credential,
      body: { instances: [{ id: instance?.['id'], state: 'running', port: 8000 }] },
    });
    expect(beat.status).toBe(200);
    await h.control.reconcile();

    // A replica needs two free nodes: with the follower draining only the third is free.
    expect(
      (await h.call('PATCH', `/api/v1/nodes/${follower}`, { body: { maintenance: 'draining' } })).status,
    ).toBe(200);
    const pass = await h.control.reconcile();
    expect(pass.instancesRemoved).toEqual([]);
    expect(pass.instancesCreated).toEqual([]);
    expect(listOf((await h.call('GET', '/api/v1/instances')).body).map((i) => i['id'])).toEqual([
      instance?.['id'],
    ]);
    const deployment = (await h.call('GET', `/api/v1/deployments/${id}`)).body;
    expect(deployment['status']).toBe('running');
    expect(deployment['statusReason']).toMatch(
      /^moving off draining node\(s\): 0 of 1 .*1 replica\(s\) unplaced/,
    );
  });
});
