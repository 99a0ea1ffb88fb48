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
 * Changing what a deployment runs (PATCH /api/v1/deployments/:id with a model, quant, engine, context or
 * sites) against the real control server, its reconciler and store: the revision goes up, a replica of
 * the new revision is placed beside the old one where there is room, the old one keeps serving until the
 * new one runs, and where there is room for only one copy the old one is replaced in place.
 */
const stores = harnessStores();

describe.each(stores)('rolling updates of a deployment on %s', (_label, databaseUrl) => {
  let h: Harness;
  const nodes: Record<string, { nodeId: string; credential: string }> = {};

  beforeAll(async () => {
    h = await startHarness(await databaseUrl());
    for (const [name, site] of [
      ['a-1', 'site-a'],
      ['b-1', 'site-b'],
      ['c-1', 'site-c'],
      ['c-2', 'site-c'],
    ] as const) {
      const registered = await h.call('POST', '/api/v1/worker/register', {
        key: null,
        body: registerBody(await h.newJoinToken(), name, site),
      });
      expect(registered.status).toBe(200);
      nodes[name] = registered.body as { nodeId: string; credential: string };
    }
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A heartbeat from `node` reporting `instances`; the answer is what it should run. */
  const heartbeat = async (node: string, instances: JsonObject[] = []) => {
    const answer = await h.call('POST', '/api/v1/worker/heartbeat', {
      key: nodes[node]!.credential,
      body: { instances },
    });
    expect(answer.status).toBe(200);
    return answer.body['instances'] as JsonObject[];
  };
  const instancesOf = async (id: string) =>
    listOf((await h.call('GET', `/api/v1/instances?deployment=${id}`)).body);
  const deployment = async (id: string) => (await h.call('GET', `/api/v1/deployments/${id}`)).body;
  /**
   * Lets the instances that run now settle (run for as long as gateways take to learn of them), every
   * node heard from meanwhile, then reconciles.
   */
  const settle = async () => {
    h.clock.now += settleMs;
    for (const name of Object.keys(nodes)) await heartbeat(name);
    return h.control.reconcile();
  };
  /** The id of the deployment named `name`. */
  const idOf = async (name: string) =>
    listOf((await h.call('GET', '/api/v1/deployments')).body).find((d) => d['name'] === name)?.[
      'id'
    ] as string;
  /**
   * Deploys `name` as two replicas on site-c, whose two GPUs each hold one copy (14B in FP8 on vLLM), and
   * reports both running; returns its id.
   */
  const deployOneCopyPerGpu = async (name: string) => {
    const created = await h.call('POST', '/api/v1/deployments', {
      body: {
        name,
        model: 'deepseek-r1-distill-qwen-14b',
        quant: 'fp8',
        engine: 'vllm',
        replicas: 2,
        sites: ['site-c'],
      },
    });
    const id = created.body['id'] as string;
    await h.control.reconcile();
    const placed = await instancesOf(id);
    expect(placed.map((i) => i['nodeId']).sort()).toEqual(
      [nodes['c-1']!.nodeId, nodes['c-2']!.nodeId].sort(),
    );
    await runAll('c-1', id);
    await runAll('c-2', id);
    return id;
  };
  /** Reports every instance of the deployment on `node` as running. */
  const runAll = async (node: string, id: string) => {
    const mine = (await instancesOf(id)).filter((i) => i['nodeId'] === nodes[node]!.nodeId);
    await heartbeat(
      node,
      mine.map((i, n) => ({ id: i['id'], state: 'running', port: 8100 + n })),
    );
  };

  it('places the new revision beside the old, which serves until the new one runs', async () => {
    const created = await h.call('POST', '/api/v1/deployments', {
      body: {
        name: 'chat',
        model: 'deepseek-r1-distill-qwen-7b',
        quant: 'q4_k_m',
        replicas: 1,
        sites: ['site-a'],
      },
    });
    expect(created.status).toBe(201);
    expect(created.body['revision']).toBe(1);
    const id = created.body['id'] as string;
    await h.control.reconcile();
    const [first] = await instancesOf(id);
    expect(first).toMatchObject({ revision: 1, launchSpec: { contextTokens: null } });
    await runAll('a-1', id);
    await h.control.reconcile();
    expect(await deployment(id)).toMatchObject({ status: 'running', statusReason: null });

    // Scaling is not a change of what runs: no new revision.
    const idle = await h.call('PATCH', `/api/v1/deployments/${id}`, { body: { idleTimeoutS: 60 } });
    expect(idle.body).toMatchObject({ revision: 1 });

    const updated = await h.call('PATCH', `/api/v1/deployments/${id}`, { body: { contextTokens: 8192 } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ revision: 2, contextTokens: 8192, replicas: 1 });
    // The same settings again change nothing.
    const again = await h.call('PATCH', `/api/v1/deployments/${id}`, { body: { contextTokens: 8192 } });
    expect(again.body).toMatchObject({ revision: 2 });

    const pass = await h.control.reconcile();
    expect(pass.instancesRemoved).toEqual([]);
    expect(pass.instancesCreated).toHaveLength(1);
    const both = await instancesOf(id);
    expect(both.map((i) => [i['id'] === first?.['id'], i['revision']])).toEqual([
      [true, 1],
      [false, 2],
    ]);
    expect(await deployment(id)).toMatchObject({
      status: 'running',
      statusReason: 'updating to revision 2: 0 of 1 replica(s) on it running; 1 older still serving',
    });
    // The worker runs both, each with what it was placed to run.
    const desired = await heartbeat('a-1', [{ id: first?.['id'], state: 'running', port: 8100 }]);
    expect(desired.map((d) => [d['id'] === first?.['id'], d['contextTokens']])).toEqual([
      [true, 4096],
      [false, 8192],
    ]);

    await runAll('a-1', id);
    // Retired only once the new one has run long enough for every gateway to know it.
    expect((await h.control.reconcile()).instancesRemoved).toEqual([]);
    const done = await settle();
    expect(done.instancesRemoved).toEqual([first?.['id']]);
    expect(await instancesOf(id)).toEqual([expect.objectContaining({ revision: 2, state: 'running' })]);
    expect(await deployment(id)).toMatchObject({ status: 'running', statusReason: null });
  });

  it('replaces the old instance in place when the device holds only one copy', async () => {
    // 14B in FP8 on vLLM: one copy fills most of a 24 GB GPU.
    const created = await h.call('POST', '/api/v1/deployments', {
      body: {
        name: 'big',
        model: 'deepseek-r1-distill-qwen-14b',
        quant: 'fp8',
        engine: 'vllm',
        replicas: 1,
        sites: ['site-b'],
      },
    });
    expect(created.status).toBe(201);
    const id = created.body['id'] as string;
    await h.control.reconcile();
    const [first] = await instancesOf(id);
    expect(first).toMatchObject({ nodeId: nodes['b-1']!.nodeId, revision: 1 });
    await runAll('b-1', id);

    const updated = await h.call('PATCH', `/api/v1/deployments/${id}`, { body: { contextTokens: 2048 } });
    expect(updated.body).toMatchObject({ revision: 2 });
    const pass = await h.control.reconcile();
    expect(pass.instancesRemoved).toEqual([first?.['id']]);
    expect(pass.instancesCreated).toHaveLength(1);
    expect(await instancesOf(id)).toEqual([
      expect.objectContaining({
        revision: 2,
        state: 'scheduled',
        launchSpec: expect.objectContaining({ contextTokens: 2048 }),
      }),
    ]);
  });

  it('replaces in place one replica at a time, and not the next while the new one fails', async () => {
    // Two GPUs that each hold one copy; both replicas run.
    const id = await deployOneCopyPerGpu('pair');

    expect(
      (await h.call('PATCH', `/api/v1/deployments/${id}`, { body: { contextTokens: 2048 } })).status,
    ).toBe(200);
    const first = await h.control.reconcile();
    expect(first.instancesRemoved).toHaveLength(1);
    expect(first.instancesCreated).toHaveLength(1);
    // The new one is not running yet: the other old one stays.
    expect((await h.control.reconcile()).instancesRemoved).toEqual([]);
    const fresh = (await instancesOf(id)).find((i) => i['revision'] === 2)!;
    const node = fresh['nodeId'] === nodes['c-1']!.nodeId ? 'c-1' : 'c-2';
    const other = node === 'c-1' ? 'c-2' : 'c-1';
    expect(await deployment(id)).toMatchObject({ status: 'degraded' });

    // It fails to start: it is removed and placed again, and the old one on the other GPU keeps serving.
    await heartbeat(node, [{ id: fresh['id'], state: 'failed', error: 'out of memory' }]);
    const retry = await h.control.reconcile();
    expect(retry.instancesRemoved).toEqual([fresh['id']]);
    expect(retry.instancesCreated).toHaveLength(1);
    const afterRetry = await instancesOf(id);
    expect(afterRetry.filter((i) => i['revision'] === 1)).toEqual([
      expect.objectContaining({ nodeId: nodes[other]!.nodeId, state: 'running' }),
    ]);
    // Why the update does not progress, until a new instance runs.
    expect((await deployment(id))['statusReason']).toMatch(/; a new instance failed: out of memory$/);
    await h.control.reconcile();
    expect((await deployment(id))['statusReason']).toMatch(/; a new instance failed: out of memory$/);

    // Once it runs, the second old one makes room for the last new one.
    await runAll(node, id);
    expect((await h.control.reconcile()).instancesRemoved).toEqual([]);
    const second = await settle();
    expect(second.instancesRemoved).toHaveLength(1);
    expect(second.instancesCreated).toHaveLength(1);
    await runAll(other, id);
    await h.control.reconcile();
    expect((await instancesOf(id)).map((i) => [i['revision'], i['state']])).toEqual([
      [2, 'running'],
      [2, 'running'],
    ]);
    expect(await deployment(id)).toMatchObject({ status: 'running', statusReason: null });
  });

  it('gives each of two changes at once a revision of its own, and keeps what older instances run', async () => {
    const id = (
      await h.call('POST', '/api/v1/deployments', {
        body: {
          name: 'solo',
          model: 'deepseek-r1-distill-qwen-7b',
          quant: 'q4_k_m',
          replicas: 1,
          sites: ['site-a'],
        },
      })
    ).body['id'] as string;
    // An instance placed before revisions were recorded: it has no launch spec of its own.
    const legacy = await h.store.createInstance({
      deploymentId: id,
      nodeId: nodes['a-1']!.nodeId,
      engine: 'llama.cpp',
      state: 'running',
    });
    expect(legacy.launchSpec).toBeNull();
    const [one, two] = await Promise.all([
      h.call('PATCH', `/api/v1/deployments/${id}`, { body: { contextTokens: 2048 } }),
      h.call('PATCH', `/api/v1/deployments/${id}`, { body: { sites: ['site-a', 'site-a', 'site-b'] } }),
    ]);
    expect([one.body['revision'], two.body['revision']].sort()).toEqual([2, 3]);
    expect(await deployment(id)).toMatchObject({ revision: 3, contextTokens: 2048 });
    // It keeps running what the deployment ran when it was placed.
    expect((await h.store.getInstance(legacy.id))?.launchSpec).toEqual({
      modelRef: 'deepseek-r1-distill-qwen-7b',
      quant: 'q4_k_m',
      contextTokens: null,
    });
    // What makes the two one after the other: a transaction that locks the deployment waits for another
    // that holds it, and then reads what that one wrote.
    const holding = h.store.withTransaction(async (tx) => {
      await tx.lockDeployment(id);
      await tx.updateDeployment(id, { contextTokens: 4000 });
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const seen = await h.store.withTransaction(async (tx) => {
      await tx.lockDeployment(id);
      return (await tx.getDeployment(id))?.contextTokens;
    });
    await holding;
    expect(seen).toBe(4000);
    // The same sites in another order, repeated: no change.
    const same = await h.call('PATCH', `/api/v1/deployments/${id}`, {
      body: { sites: ['site-b', 'site-a', 'site-b'] },
    });
    expect(same.body['revision']).toBe(3);
    await h.call('DELETE', `/api/v1/deployments/${id}`);
  });

  it('keeps the old instance serving when the new revision fits nowhere, and says why', async () => {
    const id = await idOf('chat');
    const [serving] = await instancesOf(id);
    // The full DeepSeek-R1 fits on no 24 GB GPU, not even in the place of the running one.
    const updated = await h.call('PATCH', `/api/v1/deployments/${id}`, {
      body: { model: 'deepseek-r1', quant: null },
    });
    expect(updated.body).toMatchObject({ revision: 3, modelRef: 'deepseek-r1', quant: null });
    const pass = await h.control.reconcile();
    expect(pass.instancesRemoved).toEqual([]);
    expect(pass.instancesCreated).toEqual([]);
    expect(await instancesOf(id)).toEqual([
      expect.objectContaining({ id: serving?.['id'], state: 'running' }),
    ]);
    const { status, statusReason } = await deployment(id);
    expect(status).toBe('running');
    expect(statusReason).toMatch(
      /^updating to revision 3: 0 of 1 replica\(s\) on it running; 1 older still serving; 1 replica\(s\) unplaced: /,
    );
    // Back to the model it runs: a new revision again, which the old instance does not satisfy either.
    const back = await h.call('PATCH', `/api/v1/deployments/${id}`, {
      body: { model: 'deepseek-r1-distill-qwen-7b', quant: 'q4_k_m' },
    });
    expect(back.body).toMatchObject({ revision: 4 });
    expect((await h.control.reconcile()).instancesCreated).toHaveLength(1);
  });

  it('drops an old instance that never served, and keeps one whose engine is restarting', async () => {
    const created = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'fresh', model: 'deepseek-r1-distill-qwen-1.5b', replicas: 2, sites: ['site-a'] },
    });
    const id = created.body['id'] as string;
    await h.control.reconcile();
    const [restarting, downloading] = await instancesOf(id);
    // One served and its engine died: the worker starts it again. The other still downloads its model.
    await heartbeat('a-1', [
      { id: restarting?.['id'], state: 'starting', restarts: 1 },
      { id: downloading?.['id'], state: 'downloading' },
    ]);
    await h.call('PATCH', `/api/v1/deployments/${id}`, { body: { contextTokens: 2048 } });
    const pass = await h.control.reconcile();
    expect(pass.instancesRemoved).toEqual([downloading?.['id']]);
    expect((await instancesOf(id)).filter((i) => i['revision'] === 1)).toEqual([
      expect.objectContaining({ id: restarting?.['id'] }),
    ]);
    await h.call('DELETE', `/api/v1/deployments/${id}`);
  });

  it('refuses a change it could never run with a clear 4xx', async () => {
    const id = listOf((await h.call('GET', '/api/v1/deployments')).body)[0]?.['id'] as string;
    const cases: [JsonObject, RegExp][] = [
      [{ engine: 'no-such-engine' }, /engine/],
      [{ model: 'no-such-model' }, /unknown model "no-such-model"/],
      [{ model: 'relative.gguf' }, /relative path/],
      [{ sites: ['nowhere'] }, /unknown site "nowhere"/],
      [{ contextTokens: 8 }, /contextTokens/],
      [{}, /give replicas/],
    ];
    for (const [body, message] of cases) {
      const answer = await h.call('PATCH', `/api/v1/deployments/${id}`, { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(errorCode(answer.body)).toMatch(/^invalid_/);
      expect((answer.body['error'] as { message: string }).message).toMatch(message);
    }
    expect((await deployment(id))['revision']).toBe(4);
  });

  it('takes no old instance down while fewer replicas serve than it has (a new one failed, its node went down)', async () => {
    await h.call('DELETE', `/api/v1/deployments/${await idOf('pair')}`);
    const id = await deployOneCopyPerGpu('duo');
    await h.call('PATCH', `/api/v1/deployments/${id}`, { body: { contextTokens: 2048 } });
    await h.control.reconcile(); // one old instance replaced in place
    const fresh = (await instancesOf(id)).find((i) => i['revision'] === 2)!;
    const node = fresh['nodeId'] === nodes['c-1']!.nodeId ? 'c-1' : 'c-2';
    const other = node === 'c-1' ? 'c-2' : 'c-1';
    const [survivor] = (await instancesOf(id)).filter((i) => i['revision'] === 1);
    // The new one fails, and its node goes silent: no room left but the survivor's.
    await heartbeat(node, [{ id: fresh['id'], state: 'failed', error: 'out of memory' }]);
    h.clock.now += 20_000;
    for (const name of ['a-1', 'b-1', other]) await heartbeat(name);
    const pass = await h.control.reconcile();
    expect(pass.nodesMarkedDown).toContain(nodes[node]!.nodeId);
    expect(pass.instancesRemoved).not.toContain(survivor?.['id']);
    expect(await instancesOf(id)).toEqual([expect.objectContaining({ id: survivor?.['id'], revision: 1 })]);
    expect((await deployment(id))['statusReason']).toMatch(
      /^updating to revision 2: 0 of 2 replica\(s\) on it running; 1 older still serving/,
    );
  });
});
