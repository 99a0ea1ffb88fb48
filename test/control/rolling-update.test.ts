import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresTestDatabases } from '../store/postgres-test-databases.js';
import {
  errorCode,
  listOf,
  registerBody,
  startHarness,
  type Harness,
  type JsonObject,
} from './server-harness.js';

/**
 * Changing what a deployment runs (PATCH /api/v1/deployments/:id with a model, quant, engine, context or
 * sites) against the real control server, its reconciler and store: the revision goes up, a replica of
 * the new revision is placed beside the old one where there is room, the old one keeps serving until the
 * new one runs, and where there is room for only one copy the old one is replaced in place.
 */
const postgres = new PostgresTestDatabases();
afterAll(async () => {
  await postgres.dropAll();
});

const stores: [string, () => Promise<string | undefined>][] = [
  ['SQLite', async () => undefined],
  [
    'PostgreSQL',
    async () => {
      await postgres.connect();
      return postgres.fresh();
    },
  ],
];

describe.each(stores)('rolling updates of a deployment on %s', (_label, databaseUrl) => {
  let h: Harness;
  const nodes: Record<string, { nodeId: string; credential: string }> = {};

  beforeAll(async () => {
    h = await startHarness(await databaseUrl());
    for (const [name, site] of [
      ['a-1', 'site-a'],
      ['b-1', 'site-b'],
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
    const done = await h.control.reconcile();
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

  it('keeps the old instance serving when the new revision fits nowhere, and says why', async () => {
    const id = listOf((await h.call('GET', '/api/v1/deployments')).body).find((d) => d['name'] === 'chat')?.[
      'id'
    ] as string;
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
});
