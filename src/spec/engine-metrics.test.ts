import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { engineMetricNames, loadFromMetrics, loadOfAnyEngine } from './engine-metrics.js';

const fixture = (name: string) =>
  readFile(new URL(`../../test/fixtures/engines/${name}`, import.meta.url), 'utf8');

describe('loadOfAnyEngine', () => {
  it("reads each engine's page by that engine's names, whichever it is", async () => {
    for (const [file, names] of [
      ['vllm-v1-metrics.txt', engineMetricNames.vllm],
      ['vllm-v0-metrics.txt', engineMetricNames.vllm],
      ['sglang-metrics.txt', engineMetricNames.sglang],
      ['llama-server-metrics.txt', engineMetricNames.llamaServer],
      ['embedded-metrics.txt', engineMetricNames.embedded],
      ['mindie-metrics.txt', engineMetricNames.mindie],
    ] as const) {
      const text = await fixture(file);
      const load = loadOfAnyEngine(text);
      expect(load, file).toEqual(loadFromMetrics(text, names));
      expect(load, file).not.toBeNull();
    }
    expect(loadOfAnyEngine(await fixture('sglang-metrics.txt'))).toMatchObject({
      requestsRunning: 162,
      requestsWaiting: 2826,
      kvCacheUsage: 0.28,
    });
  });

  it('is null for a page with no engine gauges, or one that is not Prometheus text', () => {
    expect(loadOfAnyEngine('edgefleet_gateway_requests_total{model="m"} 4\n')).toBeNull();
    expect(loadOfAnyEngine('<html>not found</html>')).toBeNull();
    expect(loadOfAnyEngine('')).toBeNull();
  });
});
