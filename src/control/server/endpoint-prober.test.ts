import { describe, expect, it } from 'vitest';
import { closeServers, listen, listenOnFetchBlockedPort } from '../../../test/helpers/http-servers.js';
import type { Endpoint } from '../../store/store-types.js';
import { checkEndpoint, readEndpointLoad } from './endpoint-prober.js';

describe('checkEndpoint', () => {
  it('never puts the upstream key in the error it reports (a header error quotes the value)', async () => {
    const url = await listen((_request, response) => response.end('{}'));
    try {
      // Stored before keys were checked at registration: a line break makes it an invalid header value.
      const apiKey = 'sk-secret\r\nX-Injected: 1\n'; // quoted with its ends trimmed
      const endpoint: Endpoint = {
        id: 'e1',
        model: 'm',
        url,
        siteId: 's1',
        apiKey,
        upstreamModel: null,
        health: 'unknown',
        lastCheckAtMs: null,
        lastError: null,
        createdAtMs: 0,
      };
      const result = await checkEndpoint(endpoint, 2000);
      expect(result.healthy).toBe(false);
      expect(result.error).toMatch(/^GET \/v1\/models failed: /);
      expect(result.error).not.toContain('sk-secret');
      expect(await checkEndpoint({ ...endpoint, apiKey: 'sk-fine' }, 2000)).toEqual({
        healthy: true,
        error: null,
      });
    } finally {
      await closeServers();
    }
  });

  it('reaches a server on a port that fetch refuses (6665–6669, 10080…), as the gateway does', async () => {
    const url = await listenOnFetchBlockedPort((request, response) => {
      if (request.url === '/metrics') {
        response.end(
          'vllm:num_requests_running{model_name="m"} 3\nvllm:num_requests_waiting{model_name="m"} 1\n',
        );
      } else response.end('{"object":"list","data":[]}');
    });
    try {
      await expect(fetch(`${url}/v1/models`)).rejects.toThrow(); // "bad port": what the prober used to do
      const endpoint: Endpoint = {
        id: 'e1',
        model: 'm',
        url,
        siteId: 's1',
        apiKey: null,
        upstreamModel: null,
        health: 'unknown',
        lastCheckAtMs: null,
        lastError: null,
        createdAtMs: 0,
      };
      expect(await checkEndpoint(endpoint, 2000)).toEqual({ healthy: true, error: null });
      expect(await readEndpointLoad(endpoint, 2000)).toMatchObject({
        requestsRunning: 3,
        requestsWaiting: 1,
      });
    } finally {
      await closeServers();
    }
  });
});
