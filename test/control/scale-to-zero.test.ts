import { afterAll, describe, expect, it } from 'vitest';
import { buildRouteTable } from '../../src/control/server/route-table.js';
import { errorCode, listOf, registerBody, startHarness, type Harness } from './server-harness.js';

/** Scale to zero in the reconciler: `minReplicas: 0` places nothing until a request touches it. */
describe('scale to zero', () => {
  let h: Harness;
  afterAll(async () => {
    await h?.close();
  });

  const instancesOf = async (deploymentId: string) =>
    listOf((await h.call('GET', `/api/v1/instances?deployment=${deploymentId}`)).body);
  const routeOf = async (name: string) =>
    (await buildRouteTable(h.store, h.clock.now)).models.find((m) => m.name === name);

  it('places nothing while idle, starts on a touch and scales back to zero after the idle timeout', async () => {
    h = await startHarness();
    const registered = await h.call('POST', '/api/v1/worker/register', {
      key: null,
      body: registerBody(await h.newJoinToken(), 'n-1', 'site-a', 2),
    });
    expect(registered.status).toBe(200);

    const tooMany = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'bad', model: 'deepseek-r1-distill-qwen-7b', replicas: 1, minReplicas: 2 },
    });
    expect(tooMany.status).toBe(400);
    expect(errorCode(tooMany.body)).toBe('invalid_request');

    const created = await h.call('POST', '/api/v1/deployments', {
      body: {
        name: 'lazy',
        model: 'deepseek-r1-distill-qwen-7b',
        quant: 'q4_k_m',
        replicas: 1,
        minReplicas: 0,
        idleTimeoutS: 5,
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ minReplicas: 0, idleTimeoutMs: 5000, lastRequestAtMs: null });
    const lazyId = created.body['id'] as string;
    const always = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'always', model: 'deepseek-r1-distill-qwen-7b', quant: 'q4_k_m', replicas: 1 },
    });
    expect(always.body).toMatchObject({ minReplicas: 1, idleTimeoutMs: 600_000 });
    const alwaysId = always.body['id'] as string;

    // Never requested: nothing placed, pending with a reason that says why.
    await h.control.reconcile();
    expect(await instancesOf(lazyId)).toEqual([]);
    expect(await instancesOf(alwaysId)).toHaveLength(1);
    expect(await h.store.getDeployment(lazyId)).toMatchObject({
      status: 'pending',
      statusReason: 'scaled to zero; starts on the next request',
    });
    expect(await routeOf('lazy')).toMatchObject({ scaledToZero: true, instances: [] });
    expect((await routeOf('always'))?.scaledToZero).toBeUndefined();

    // A request (the gateway's activate hook) records its time: one replica is placed at once.
    await h.store.touchDeployment(lazyId, h.clock.now);
    const started = await h.control.reconcile();
    expect(started.instancesCreated).toHaveLength(1);
    const [instance] = await instancesOf(lazyId);
    expect(instance).toMatchObject({ state: 'scheduled' });
    expect((await routeOf('lazy'))?.scaledToZero).toBeUndefined();
    expect((await h.store.getDeployment(lazyId))?.statusReason).toMatch(/0 of 1 replica/);

    // Still within the idle timeout: kept.
    h.clock.now += 4000;
    expect((await h.control.reconcile()).instancesRemoved).toEqual([]);

    // Idle past the timeout: removed (the worker stops it, as it is no longer desired); the other stays.
    h.clock.now += 2000;
    const idle = await h.control.reconcile();
    expect(idle.instancesRemoved).toEqual([instance?.['id']]);
    expect(idle.instancesCreated).toEqual([]);
    expect(await instancesOf(lazyId)).toEqual([]);
    expect(await instancesOf(alwaysId)).toHaveLength(1);
    expect(await h.store.getDeployment(lazyId)).toMatchObject({
      status: 'pending',
      statusReason: 'scaled to zero; starts on the next request',
    });
    expect(await routeOf('lazy')).toMatchObject({ scaledToZero: true });

    // The next request starts it again.
    await h.store.touchDeployment(lazyId, h.clock.now);
    expect((await h.control.reconcile()).instancesCreated).toHaveLength(1);
  });
});
