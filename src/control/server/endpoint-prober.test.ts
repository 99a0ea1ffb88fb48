import { describe, expect, it } from 'vitest';
import { closeServers, listen, listenOnFetchBlockedPort } from '../../../test/helpers/http-servers.js';
import type { Endpoint } from '../../store/store-types.js';
import { checkEndpoint, readEndpointLoad } from './endpoint-prober.js';

/** An endpoint as the store holds it, at `url`. */
const endpointAt = (url: string, apiKey: string | null, id = 'e1'): Endpoint => ({
  id,
  model: 'm',
  url,
  siteId: 's1',
  apiKey,
  upstreamModel: null,
  health: 'unknown',
  lastCheckAtMs: null,
  lastError: null,
  createdAtMs: 0,
});

describe('checkEndpoint', () => {
  it('never puts the upstream key in the error it reports (a header error quotes the value)', async () => {
    const url = await listen((_request, response) => response.end('{}'));
    try {
      // Stored before keys were checked at registration: a line break makes it an invalid header value.
      const apiKey = 'sk-secret\r\nX-Injected: 1\n'; // quoted with its ends trimmed
      const endpoint = endpointAt(url, apiKey);
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
      const endpoint = endpointAt(url, null);
      expect(await checkEndpoint(endpoint, 2000)).toEqual({ healthy: true, error: null });
      expect(await readEndpointLoad(endpoint, 2000)).toMatchObject({
        requestsRunning: 3,
        requestsWaiting: 1,
      });
    } finally {
      await closeServers();
    }
  });

  it('says how to set the upstream key when the server answers 401', async () => {
    const url = await listen((request, response) => {
      response.statusCode = request.headers.authorization === 'Bearer right' ? 200 : 401;
      response.end('{}');
    });
    try {
      const endpoint = endpointAt(url, null, 'e7');
      expect((await checkEndpoint(endpoint, 2000)).error).toBe(
        "GET /v1/models answered 401 Unauthorized: it wants an API key (edgefleet endpoints update e7 --upstream-key K, or Edit… on the dashboard's Endpoints page)",
      );
      expect((await checkEndpoint({ ...endpoint, apiKey: 'wrong' }, 2000)).error).toContain(
        'it refuses the upstream key',
      );
      expect(await checkEndpoint({ ...endpoint, apiKey: 'right' }, 2000)).toEqual({
        healthy: true,
        error: null,
      });
    } finally {
      await closeServers();
    }
  });
});
