import { describe, expect, it } from 'vitest';
import { closeServers, listen } from '../../../test/helpers/http-servers.js';
import type { Endpoint } from '../../store/store-types.js';
import { checkEndpoint } from './endpoint-prober.js';

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
});
