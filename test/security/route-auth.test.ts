/**
 * Every route of `edgefleet server` and `edgefleet gateway` (real processes on 127.0.0.1) against every
 * kind of credential: none and a wrong one get 401 everywhere but `/health`; an inference key gets 403
 * on every management route and on `/metrics`; a metrics key reads `/metrics` and nothing else; a
 * gateway key (what the room gateway here runs with) reaches only the room gateways' part of the
 * management API; a node credential and a join token are no API keys; the admin key is no node credential. Join tokens register one worker and
 * expire (`edgefleet server token --ttl-s`). A key limited to one model sees and uses only that model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../fleet/fleet-processes.js';
import {
  addEndpoint,
  api,
  errorCode,
  Fleet,
  registerBody,
  send,
  startUpstream,
  type Answer,
} from './security-fleet.js';

/** Every management route (method, path): src/control/server/management-routes.ts and the files it calls. */
const managementRoutes: [string, string][] = [
  ['GET', '/api/v1/sites'],
  ['GET', '/api/v1/nodes'],
  ['DELETE', '/api/v1/nodes/n-1'],
  ['GET', '/api/v1/instances'],
  ['GET', '/api/v1/instances/i-1/logs'],
  ['GET', '/api/v1/deployments'],
  ['POST', '/api/v1/deployments'],
  ['POST', '/api/v1/deployments/preview'],
  ['GET', '/api/v1/deployments/d-1'],
  ['DELETE', '/api/v1/deployments/d-1'],
  ['GET', '/api/v1/keys'],
  ['POST', '/api/v1/keys'],
  ['PATCH', '/api/v1/keys/k-1'],
  ['DELETE', '/api/v1/keys/k-1'],
  ['GET', '/api/v1/usage'],
  ['POST', '/api/v1/usage/events'],
  ['GET', '/api/v1/endpoints'],
  ['POST', '/api/v1/endpoints'],
  ['GET', '/api/v1/endpoints/e-1'],
  ['PATCH', '/api/v1/endpoints/e-1'],
  ['DELETE', '/api/v1/endpoints/e-1'],
  ['GET', '/api/v1/gateway/routes'],
  ['GET', '/api/v1/gateway/keys'],
  ['POST', '/api/v1/gateway/activate'],
  ['GET', '/api/v1/traffic'],
  ['GET', '/api/v1/catalog'],
  ['POST', '/api/v1/planner/estimate'],
  ['POST', '/api/v1/planner/recommend'],
  // Not a route: still 401 before anything else is said about it.
  ['GET', '/api/v1/no-such-thing'],
];

/** What a room gateway calls: the only management routes a gateway key may use. */
const gatewaySyncRoutes = new Set([
  'POST /api/v1/usage/events',
  'GET /api/v1/gateway/routes',
  'GET /api/v1/gateway/keys',
  'POST /api/v1/gateway/activate',
]);

/** The OpenAI-compatible routes (src/gateway/fleet-gateway.ts), on the server and on a room gateway. */
const inferenceRoutes: [string, string][] = [
  ['GET', '/v1/models'],
  ['GET', '/v1/models/alpha'],
  ['POST', '/v1/chat/completions'],
  ['POST', '/v1/completions'],
  ['POST', '/v1/embeddings'],
  ['GET', '/v1/no-such-thing'],
];

const chatBody = (model: string) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });

/** The request a route gets: a JSON body for POSTs (a valid one where that matters). */
function call(base: string, method: string, path: string, headers: Record<string, string>) {
  return send(`${base}${path}`, {
    method,
    headers,
    ...(method === 'POST' && { body: path.startsWith('/v1/') ? chatBody('alpha') : '{}' }),
  });
}

function expectStatus(answer: Answer, status: number, what: string): void {
  expect({ what, status: answer.status }).toEqual({ what, status });
}

describe('credentials on every route', () => {
  const fleet = new Fleet();
  let server: Awaited<ReturnType<Fleet['server']>>;
  let gatewayUrl: string;
  let inferenceKey: string;
  let alphaOnlyKey: string;
  let metricsKey: string;
  let gatewayKey: string;
  let nodeCredential: string;

  beforeAll(async () => {
    const upstream = await startUpstream('upstream');
    fleet.onClose(() => upstream.close());
    server = await fleet.server();
    await addEndpoint(server.url, server.adminKey, 'alpha', upstream.url);
    await addEndpoint(server.url, server.adminKey, 'beta', upstream.url);
    const created = await api(server.url, server.adminKey, 'POST', '/api/v1/keys', { name: 'user' });
    inferenceKey = created.json?.['key'] as string;
    const limited = await api(server.url, server.adminKey, 'POST', '/api/v1/keys', {
      name: 'alpha-only',
      models: ['alpha'],
    });
    alphaOnlyKey = limited.json?.['key'] as string;
    const keyWithRole = async (name: string, role: string) => {
      const answer = await api(server.url, server.adminKey, 'POST', '/api/v1/keys', { name, role });
      expect(answer.status).toBe(201);
      return answer.json?.['key'] as string;
    };
    metricsKey = await keyWithRole('prometheus', 'metrics');
    gatewayKey = await keyWithRole('room-sec', 'gateway');
    const registered = await send(`${server.url}/api/v1/worker/register`, {
      method: 'POST',
      body: JSON.stringify(registerBody(server.joinToken, 'node-a')),
    });
    expect(registered.status).toBe(200);
    nodeCredential = registered.json?.['credential'] as string;
    // The room gateway holds a gateway key, not the admin key.
    gatewayUrl = (await fleet.gateway(server.url, gatewayKey, 'sec')).url;
  });

  afterAll(() => fleet.close());

  it('answers 401 without a credential and with a wrong one on every management and inference route', async () => {
    const bases = [
      ['server', server.url, [...managementRoutes, ...inferenceRoutes, ['GET', '/metrics']]],
      ['gateway', gatewayUrl, [...inferenceRoutes, ['GET', '/metrics']]],
    ] as const;
    const wrong = {
      'no header': {},
      'no bearer': { authorization: 'Basic YWRtaW46YWRtaW4=' },
      'empty bearer': { authorization: 'Bearer ' },
      'unknown key': { authorization: 'Bearer ef_admin_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      'admin key with one character changed': {
        authorization: `Bearer ${server.adminKey.slice(0, -1)}${server.adminKey.endsWith('A') ? 'B' : 'A'}`,
      },
      'admin key as a query parameter': {},
    };
    // All of a base's requests at once: the room gateway looks an unknown secret up again after its next
    // key pull (at most one a second), which requests one after another would each wait for.
    for (const [name, base, routes] of bases) {
      const answers = routes.flatMap(([method, path]) =>
        Object.entries(wrong).map(async ([how, headers]) => {
          const target =
            how === 'admin key as a query parameter' ? `${path}?api_key=${server.adminKey}` : path;
          return {
            what: `${name} ${method} ${path} (${how})`,
            answer: await call(base, method, target, headers),
          };
        }),
      );
      for (const { what, answer } of await Promise.all(answers)) {
        expectStatus(answer, 401, what);
        expect(errorCode(answer), what).toBe('unauthorized');
      }
    }
  });

  it('keeps /health open, shows /metrics to an admin or metrics key only, and the listed routes are real', async () => {
    for (const base of [server.url, gatewayUrl]) {
      expect((await send(`${base}/health`)).status).toBe(200);
      for (const key of [metricsKey, server.adminKey]) {
        const metrics = await send(`${base}/metrics`, { headers: { authorization: `Bearer ${key}` } });
        expect(metrics.status).toBe(200);
        expect(metrics.text).toMatch(/^# TYPE edgefleet_gateway_requests_total counter$/m);
        // Metrics carry no secret.
        for (const secret of [server.adminKey, inferenceKey, metricsKey, gatewayKey]) {
          expect(metrics.text).not.toContain(secret);
        }
      }
      for (const [what, key] of [
        ['inference key', inferenceKey],
        ['gateway key', gatewayKey],
      ] as const) {
        const refused = await send(`${base}/metrics`, { headers: { authorization: `Bearer ${key}` } });
        expectStatus(refused, 403, `${what} on ${base}/metrics`);
        expect(errorCode(refused)).toBe('forbidden');
      }
    }
    // The admin key gets no "no route" on any listed route.
    const admin = { authorization: `Bearer ${server.adminKey}` };
    for (const [method, path] of managementRoutes.slice(0, -1)) {
      const answer = await call(server.url, method, path, admin);
      const message = (answer.json?.['error'] as { message?: string } | undefined)?.message ?? '';
      expect({ route: `${method} ${path}`, noRoute: /^no route/.test(message) }).toEqual({
        route: `${method} ${path}`,
        noRoute: false,
      });
      expect(answer.status).not.toBe(401);
      expect(answer.status).not.toBe(403);
    }
  });

  it('lets a metrics key read /metrics only, and a gateway key only what a room gateway calls', async () => {
    for (const [method, path] of managementRoutes) {
      const asMetrics = await call(server.url, method, path, { authorization: `Bearer ${metricsKey}` });
      expectStatus(asMetrics, 403, `metrics key ${method} ${path}`);
      const asGateway = await call(server.url, method, path, { authorization: `Bearer ${gatewayKey}` });
      if (gatewaySyncRoutes.has(`${method} ${path}`)) {
        expect([401, 403], `gateway key ${method} ${path}`).not.toContain(asGateway.status);
      } else {
        expectStatus(asGateway, 403, `gateway key ${method} ${path}`);
        expect(errorCode(asGateway)).toBe('forbidden');
      }
    }
    for (const base of [server.url, gatewayUrl]) {
      for (const [method, path] of inferenceRoutes) {
        for (const [what, key] of [
          ['metrics key', metricsKey],
          ['gateway key', gatewayKey],
        ] as const) {
          const answer = await call(base, method, path, { authorization: `Bearer ${key}` });
          expectStatus(answer, 403, `${what} on ${base} ${method} ${path}`);
        }
      }
    }
    // The room gateway, holding only a gateway key, has synced routes and keys and serves.
    const served = await send(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${inferenceKey}` },
      body: chatBody('alpha'),
    });
    expect(served.status).toBe(200);
  });

  it('refuses an inference key (403) on every management route, and a node credential or join token (401)', async () => {
    const token = (await runCli(['server', 'token', '--home', server.home])).stdout.trim();
    for (const [method, path] of managementRoutes) {
      const asUser = await call(server.url, method, path, { authorization: `Bearer ${inferenceKey}` });
      expectStatus(asUser, 403, `inference key ${method} ${path}`);
      expect(errorCode(asUser)).toBe('forbidden');
      const asNode = await call(server.url, method, path, { authorization: `Bearer ${nodeCredential}` });
      expectStatus(asNode, 401, `node credential ${method} ${path}`);
      const asToken = await call(server.url, method, path, { authorization: `Bearer ${token}` });
      expectStatus(asToken, 401, `join token ${method} ${path}`);
    }
    // Nor is a node credential an inference key.
    for (const base of [server.url, gatewayUrl]) {
      const answer = await send(`${base}/v1/models`, {
        headers: { authorization: `Bearer ${nodeCredential}` },
      });
      expect(answer.status).toBe(401);
    }
    // The inference key works where it should: the check above is about the route, not a broken key.
    const models = await send(`${server.url}/v1/models`, {
      headers: { authorization: `Bearer ${inferenceKey}` },
    });
    expect(models.status).toBe(200);
  });

  it('takes only a node credential on the heartbeat: not the admin key, an inference key or a join token', async () => {
    const token = (await runCli(['server', 'token', '--home', server.home])).stdout.trim();
    const heartbeat = (secret: string | undefined) =>
      send(`${server.url}/api/v1/worker/heartbeat`, {
        method: 'POST',
        headers: secret === undefined ? {} : { authorization: `Bearer ${secret}` },
        body: JSON.stringify({ instances: [] }),
      });
    for (const [what, secret] of [
      ['none', undefined],
      ['admin key', server.adminKey],
      ['inference key', inferenceKey],
      ['join token', token],
      ['garbage', 'ef_node_nope'],
    ] as const) {
      const answer = await heartbeat(secret);
      expectStatus(answer, 401, `heartbeat with ${what}`);
    }
    expect((await heartbeat(nodeCredential)).status).toBe(200);
    // The admin key is no join token either.
    const asAdmin = await send(`${server.url}/api/v1/worker/register`, {
      method: 'POST',
      body: JSON.stringify(registerBody(server.adminKey, 'node-x')),
    });
    expect(asAdmin.status).toBe(401);
  });

  it('lets a join token register one worker, then refuses it; an expired token is refused', async () => {
    const token = (await runCli(['server', 'token', '--home', server.home])).stdout.trim();
    const register = (joinToken: string, name: string) =>
      send(`${server.url}/api/v1/worker/register`, {
        method: 'POST',
        body: JSON.stringify(registerBody(joinToken, name)),
      });
    const [first, second] = await Promise.all([register(token, 'node-b'), register(token, 'node-c')]);
    // Concurrent use: exactly one wins.
    expect([first.status, second.status].sort()).toEqual([200, 401]);
    const again = await register(token, 'node-d');
    expect(again.status).toBe(401);
    expect(again.json?.['error']).toMatchObject({ code: 'unauthorized' });
    expect(again.text).toContain('used');

    const shortLived = await runCli(['server', 'token', '--home', server.home, '--ttl-s', '1']);
    expect(shortLived.code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const late = await register(shortLived.stdout.trim(), 'node-e');
    expect(late.status).toBe(401);
    expect(late.text).toContain('expired');

    const fresh = await runCli(['server', 'token', '--home', server.home, '--ttl-s', '600']);
    expect((await register(fresh.stdout.trim(), 'node-f')).status).toBe(200);
    expect((await runCli(['server', 'token', '--home', server.home, '--ttl-s', '0'])).code).toBe(2);
  });

  it('holds a key to its allow-list on the server and on the room gateway', async () => {
    for (const base of [server.url, gatewayUrl]) {
      const headers = { authorization: `Bearer ${alphaOnlyKey}` };
      const models = await send(`${base}/v1/models`, { headers });
      expect(models.status).toBe(200);
      expect((models.json?.['data'] as { id: string }[]).map((m) => m.id)).toEqual(['alpha']);
      expect((await send(`${base}/v1/models/beta`, { headers })).status).toBe(404);
      const beta = await send(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: chatBody('beta'),
      });
      expect(beta.status).toBe(403);
      expect(beta.json?.['error']).toMatchObject({ code: 'forbidden', param: 'model' });
      const alpha = await send(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: chatBody('alpha'),
      });
      expect(alpha.status).toBe(200);
      // A key without a list sees both.
      const all = await send(`${base}/v1/models`, { headers: { authorization: `Bearer ${inferenceKey}` } });
      expect((all.json?.['data'] as { id: string }[]).map((m) => m.id).sort()).toEqual(['alpha', 'beta']);
    }
  });
});
