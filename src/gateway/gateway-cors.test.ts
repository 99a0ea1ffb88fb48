import { afterEach, describe, expect, it } from 'vitest';
import { closeServers, listen } from '../../test/helpers/http-servers.js';
import { routeInstance as instance } from '../../test/helpers/route-instance.js';
import { parseCorsOrigins } from '../http/cors.js';
import { sendError } from '../http/respond.js';
import type { RouteTable } from '../spec/route-table.js';
import { createLogger } from '../telemetry/logger.js';
import { FleetGateway } from './fleet-gateway.js';

/**
 * `--cors-origins` in the gateway against a real upstream that has CORS views of its own (vLLM answers
 * `access-control-allow-origin: *` by default; a proxy in front of an engine may add `Vary`).
 */
const log = createLogger('test');
log.level = 'silent';

afterEach(closeServers);

async function start() {
  const seenOrigins: (string | undefined)[] = [];
  const upstreamUrl = await listen((request, response) => {
    request.resume().on('end', () => {
      seenOrigins.push(request.headers.origin);
      response.writeHead(200, {
        'content-type': 'application/json',
        vary: 'Accept-Encoding',
        'access-control-allow-origin': '*',
        'access-control-allow-credentials': 'true',
      });
      response.end(
        JSON.stringify({ id: 'x', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } }),
      );
    });
  });
  const table: RouteTable = {
    builtAtMs: Date.now(),
    models: [
      {
        name: 'm',
        deploymentId: 'd1',
        status: 'running',
        statusReason: null,
        createdAtMs: 0,
        instances: [instance('a', upstreamUrl)],
      },
    ],
  };
  const gateway = new FleetGateway({
    routes: { get: async () => table, refresh: async () => table },
    log,
    maxBodyBytes: 64 * 1024,
    upstreamWaitMs: 300,
    cors: parseCorsOrigins('https://chat.example'),
  });
  const url = await listen((request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    gateway.handle(request, response, path).catch((error: unknown) => sendError(response, error));
  });
  return { gateway, url, seenOrigins };
}

const chat = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });

describe('FleetGateway with --cors-origins', () => {
  it("answers for the fleet: the instance's CORS headers are dropped, its Vary kept beside the gateway's", async () => {
    const { url, seenOrigins } = await start();
    const answer = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { origin: 'https://chat.example', 'content-type': 'application/json' },
      body: chat,
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBe('https://chat.example');
    expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
    expect(answer.headers.get('vary')).toBe('Origin, Accept-Encoding');
    // An origin not listed reads nothing, though the instance would have said `*`.
    const other = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
      body: chat,
    });
    expect(other.status).toBe(200); // a program may send any Origin; a browser keeps the answer from the page
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    // The client's Origin is not the instance's business (an engine that checks it would refuse the page).
    expect(seenOrigins).toEqual([undefined, undefined]);
  });

  it('answers preflights without counting them as requests of their route', async () => {
    const { gateway, url } = await start();
    const preflight = await fetch(`${url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://chat.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { origin: 'https://chat.example', 'content-type': 'application/json' },
      body: chat,
    });
    const metrics = await gateway.registry.metrics();
    const counted = metrics.split('\n').filter((l) => l.startsWith('edgefleet_gateway_requests_total{'));
    expect(counted).toEqual([
      'edgefleet_gateway_requests_total{route="/v1/chat/completions",model="m",site="north",status="200"} 1',
    ]);
  });
});
