import { expect, it } from 'vitest';
import { rejectsWithCode, type ContractHarness } from './contract-harness.js';

/** External endpoints: create, list, delete and health checks. */
export function endpointContract(h: ContractHarness): void {
  it('creates, lists and deletes external endpoints; one model at one URL once', async () => {
    const store = await h.open();
    const site = await store.upsertSite({ name: 'room-1' });
    const first = await store.createEndpoint({
      model: 'r1-70b',
      url: 'http://10.0.0.9:8000',
      siteId: site.id,
      apiKey: 'sk-upstream',
      upstreamModel: 'deepseek-ai/DeepSeek-R1-Distill-Llama-70B',
    });
    expect(first).toMatchObject({
      model: 'r1-70b',
      url: 'http://10.0.0.9:8000',
      siteId: site.id,
      apiKey: 'sk-upstream',
      upstreamModel: 'deepseek-ai/DeepSeek-R1-Distill-Llama-70B',
      health: 'unknown',
      lastCheckAtMs: null,
      lastError: null,
    });
    const second = await store.createEndpoint({
      model: 'a-model',
      url: 'http://mindie:1025',
      siteId: site.id,
    });
    expect(second.apiKey).toBeNull();
    expect(second.upstreamModel).toBeNull();
    expect((await store.listEndpoints()).map((e) => e.id)).toEqual([second.id, first.id]);
    expect(await store.getEndpoint(first.id)).toEqual(first);
    await rejectsWithCode(
      store.createEndpoint({ model: 'r1-70b', url: 'http://10.0.0.9:8000', siteId: site.id }),
      'conflict',
    );
    // A rotated key; the upstream model removed; what is not given stays.
    const rotated = await store.updateEndpoint(first.id, { apiKey: 'sk-rotated', upstreamModel: null });
    expect(rotated).toMatchObject({
      id: first.id,
      apiKey: 'sk-rotated',
      upstreamModel: null,
      model: 'r1-70b',
    });
    expect(await store.updateEndpoint(first.id, { upstreamModel: 'served' })).toMatchObject({
      apiKey: 'sk-rotated',
      upstreamModel: 'served',
    });
    expect(await store.updateEndpoint('no-such-endpoint', { apiKey: 'x' })).toBeNull();
    expect(await store.deleteEndpoint(first.id)).toBe(true);
    expect(await store.deleteEndpoint(first.id)).toBe(false);
    expect(await store.getEndpoint(first.id)).toBeNull();
  });

  it('records health checks, clearing the error when healthy again', async () => {
    const store = await h.open();
    const site = await store.upsertSite({ name: 'room-1' });
    const endpoint = await store.createEndpoint({ model: 'm', url: 'http://h:1', siteId: site.id });
    await store.recordEndpointCheck(endpoint.id, { healthy: false, atMs: 1_000, error: 'ECONNREFUSED' });
    expect(await store.getEndpoint(endpoint.id)).toMatchObject({
      health: 'unhealthy',
      lastCheckAtMs: 1_000,
      lastError: 'ECONNREFUSED',
    });
    await store.recordEndpointCheck(endpoint.id, { healthy: true, atMs: 2_000, error: 'ignored' });
    expect(await store.getEndpoint(endpoint.id)).toMatchObject({
      health: 'healthy',
      lastCheckAtMs: 2_000,
      lastError: null,
    });
    await store.recordEndpointCheck('deleted-meanwhile', { healthy: true });
  });
}
