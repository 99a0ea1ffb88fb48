/**
 * No server-side request forgery: the gateway (in `edgefleet server` and as `edgefleet gateway`) only
 * ever connects to upstreams of the control plane's route table. A trap listener on another port of
 * 127.0.0.1 must see no connection, whatever a client puts in `model`, the Host and X-Forwarded-*
 * headers or the request target (absolute form, `//host/…`, `/\host/…`, CONNECT); and an inference key
 * cannot register upstreams (endpoints, deployments from URLs) that the control plane would fetch.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addEndpoint,
  api,
  errorCode,
  Fleet,
  send,
  startTrap,
  startUpstream,
  type Trap,
  type Upstream,
} from './security-fleet.js';

const chat = (model: string) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });

/** Sends raw bytes and returns what came back before the server closed (or `waitMs` passed). */
function raw(url: string, bytes: string, waitMs = 3000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.setEncoding('utf8').on('data', (text: string) => (answer += text));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

describe('no SSRF through the gateway', () => {
  const fleet = new Fleet();
  let trap: Trap;
  let upstream: Upstream;
  let serverUrl: string;
  let gatewayUrl: string;
  let adminKey: string;
  let userKey: string;

  beforeAll(async () => {
    trap = await startTrap();
    upstream = await startUpstream('registered');
    fleet.onClose(() => trap.close());
    fleet.onClose(() => upstream.close());
    const server = await fleet.server();
    serverUrl = server.url;
    adminKey = server.adminKey;
    await addEndpoint(serverUrl, adminKey, 'alpha', upstream.url);
    userKey = (await api(serverUrl, adminKey, 'POST', '/api/v1/keys', { name: 'user' })).json?.[
      'key'
    ] as string;
    gatewayUrl = (await fleet.gateway(serverUrl, adminKey, 'sec')).url;
  });

  afterAll(() => fleet.close());

  it('never connects to a host named by the client', async () => {
    const trapHost = `127.0.0.1:${trap.port}`;
    const auth = () => ({ authorization: `Bearer ${userKey}` });
    for (const base of [serverUrl, gatewayUrl]) {
      const { port } = new URL(base);
      // `model` naming a URL or a host: not a model of the route table.
      for (const model of [`http://${trapHost}/v1`, trapHost, `alpha@${trapHost}`, `http://${trapHost}`]) {
        const answer = await send(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: auth(),
          body: chat(model),
        });
        expect({ model, status: answer.status }).toEqual({ model, status: 404 });
        expect(errorCode(answer)).toBe('model_not_found');
      }
      // Host and forwarding headers pointing at the trap: the registered upstream answers.
      const before = upstream.seen.length;
      const headers = {
        ...auth(),
        host: trapHost,
        'x-forwarded-host': trapHost,
        'x-forwarded-for': '127.0.0.1',
        'x-forwarded-proto': 'http',
        'x-forwarded-port': String(trap.port),
        forwarded: `for=127.0.0.1;host=${trapHost};proto=http`,
        'x-original-url': `http://${trapHost}/v1/chat/completions`,
        'x-rewrite-url': `http://${trapHost}/v1/chat/completions`,
      };
      const viaHeaders = await send(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: chat('alpha'),
      });
      expect(viaHeaders.status).toBe(200);
      expect(viaHeaders.text).toContain('from registered');

      // Request targets that name a host: the absolute form is served as its path (by the registered
      // upstream); targets that would resolve to another host are refused.
      const absolute = await send(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: auth(),
        body: chat('alpha'),
        target: `http://${trapHost}/v1/chat/completions`,
      });
      expect(absolute.status).toBe(200);
      expect(absolute.text).toContain('from registered');
      for (const target of [
        `//${trapHost}/v1/chat/completions`,
        `/\\${trapHost}/v1/chat/completions`,
        `http://${trapHost}//${trapHost}/v1/chat/completions`,
      ]) {
        const answer = await send(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: auth(),
          body: chat('alpha'),
          target,
        });
        expect({ target, status: answer.status }).toEqual({ target, status: 400 });
        expect(errorCode(answer)).toBe('malformed_http');
      }
      // What reached the upstream was always a plain path.
      expect(upstream.seen.slice(before).every((line) => / \/v1\/chat\/completions$/.test(line))).toBe(true);

      // CONNECT (a proxy tunnel) is not served.
      const tunnel = await raw(base, `CONNECT ${trapHost} HTTP/1.1\r\nHost: ${trapHost}\r\n\r\n`);
      expect(tunnel).not.toMatch(/^HTTP\/1\.1 200/);
      // Same with a raw absolute-form GET of the models list and a bogus Host.
      const listed = await raw(
        base,
        `GET http://${trapHost}/v1/models HTTP/1.1\r\nHost: ${trapHost}\r\nAuthorization: Bearer ${userKey}\r\nConnection: close\r\n\r\n`,
      );
      expect(listed).toMatch(/^HTTP\/1\.1 200/);
      expect(port).not.toBe(String(trap.port));
    }
    expect(trap.connections()).toBe(0);
  });

  it('does not let an inference key register upstreams the control plane would connect to', async () => {
    const trapUrl = `http://127.0.0.1:${trap.port}`;
    const asUser = (method: string, path: string, body: unknown) =>
      api(serverUrl, userKey, method, path, body);
    expect(
      (await asUser('POST', '/api/v1/endpoints', { model: 'evil', url: trapUrl, site: 'sec' })).status,
    ).toBe(403);
    const deployment = { name: 'evil', model: `${trapUrl}/model.gguf`, replicas: 1 };
    expect((await asUser('POST', '/api/v1/deployments', deployment)).status).toBe(403);
    expect((await asUser('POST', '/api/v1/deployments/preview', deployment)).status).toBe(403);
    // The endpoint prober checks an endpoint as soon as it is registered, and the reconciler runs every
    // 200 ms: give both a chance to misbehave.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(trap.connections()).toBe(0);
  });
});
