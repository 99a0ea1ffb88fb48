import { request as httpRequest } from 'node:http';
import OpenAI from 'openai';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChromium, type RunningBrowser } from '../dashboard/browser.js';
import { closeServers, listen } from '../helpers/http-servers.js';
import {
  metricValue,
  scrapeMetrics,
  startEdgeFleet,
  type RunningEdgeFleet,
} from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';

/**
 * `edgefleet up` on loopback serves /v1 without a key, and web pages in the user's browser can reach
 * loopback too. A page of another site must not run inference there (a `text/plain` POST is a CORS
 * "simple request": no preflight), nor may a site re-pointed at 127.0.0.1 (DNS rebinding) read anything;
 * programs without an Origin header and the server's own dashboard keep working. Real Chromium plays
 * the pages; `--host-resolver-rules` plays the rebinding DNS.
 */
describe('edgefleet up without a key: web pages of other origins are refused', () => {
  let server: RunningEdgeFleet;
  let port: number;
  let chromium: RunningBrowser;
  const rebound = 'rebind.test';

  beforeAll(async () => {
    const model = await makeTestModel({});
    server = await startEdgeFleet(['--model', model.path, '--name', 'm', '--context', '256', '--offline']);
    port = Number(new URL(server.baseUrl).port);
    chromium = await startChromium([`--host-resolver-rules=MAP ${rebound} 127.0.0.1`]);
  });

  afterAll(async () => {
    await chromium?.close();
    await server?.stop();
    await closeServers();
  });

  const chatBody = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });

  type OpenAiError = { message: string; type: string; code: string };

  /** One request with exactly these headers (Host included), answered with its status and JSON body. */
  function send(
    path: string,
    headers: Record<string, string>,
    method = 'GET',
    body?: string,
  ): Promise<{ status: number; error?: OpenAiError }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, method, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const json = (text.startsWith('{') ? JSON.parse(text) : {}) as { error?: OpenAiError };
          resolve({ status: res.statusCode ?? 0, ...(json.error && { error: json.error }) });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const gatewayRefusals = async (): Promise<number> =>
    metricValue(
      await scrapeMetrics(server.baseUrl),
      'edgefleet_server_http_requests_total{route="gateway",status="403"}',
    ) ?? 0;

  it('serves programs that send no Origin: the openai client, and a text/plain POST from curl', async () => {
    const client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
    const answer = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 2,
    });
    expect(answer.choices).toHaveLength(1);
    const host = `127.0.0.1:${port}`;
    const plain = { host, 'content-type': 'text/plain' };
    expect((await send('/v1/chat/completions', plain, 'POST', chatBody)).status).toBe(200);
  });

  it('refuses another origin with 403 forbidden in OpenAI shape, the preflight too; its own origin passes', async () => {
    const host = `127.0.0.1:${port}`;
    for (const origin of ['http://evil.example', `http://127.0.0.1:${port + 1}`, 'null']) {
      const headers = { host, origin, 'content-type': 'text/plain' };
      const refused = await send('/v1/chat/completions', headers, 'POST', chatBody);
      expect(refused.status, origin).toBe(403);
      expect(refused.error).toMatchObject({ code: 'forbidden', type: 'permission_error' });
      expect(refused.error?.message).toMatch(/^cross-origin request refused: Origin ".*" is not this server/);
      const preflight = await send(
        '/v1/chat/completions',
        {
          host,
          origin,
          'access-control-request-method': 'POST',
        },
        'OPTIONS',
      );
      expect(preflight.status, origin).toBe(403);
    }
    const own = { host, origin: `http://${host}`, 'content-type': 'application/json' };
    expect((await send('/v1/chat/completions', own, 'POST', chatBody)).status).toBe(200);
    const byName = { host: `localhost:${port}`, origin: `http://localhost:${port}` };
    expect((await send('/v1/models', byName)).status).toBe(200);
  });

  it('refuses a Host that is not loopback on every route, and takes each loopback name', async () => {
    for (const path of ['/v1/models', '/health', '/metrics', '/']) {
      const refused = await send(path, { host: `${rebound}:${port}` });
      expect(refused.status, path).toBe(403);
      expect(refused.error?.message).toMatch(/not a loopback address.*DNS rebinding/);
    }
    for (const host of [`localhost:${port}`, `127.0.0.2:${port}`, `[::1]:${port}`, 'localhost']) {
      expect((await send('/v1/models', { host })).status, host).toBe(200);
    }
  });

  it('in Chromium: a page of another site cannot run inference with a simple request', async () => {
    const attacker = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>another site</title>');
    });
    const page: Page = await chromium.browser.newPage();
    try {
      await page.goto(attacker);
      const before = await gatewayRefusals();
      // What a hostile page can do without a preflight: the answer is opaque, the request is sent.
      const sent = await page.evaluate(`fetch(${JSON.stringify(`${server.baseUrl}/v1/chat/completions`)}, {
        method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(chatBody)},
      }).then(() => 'sent', (error) => String(error))`);
      expect(sent).toBe('sent');
      expect(await gatewayRefusals()).toBe(before + 1);
    } finally {
      await page.close();
    }
  });

  it('in Chromium: a site re-pointed at 127.0.0.1 (DNS rebinding) gets nothing', async () => {
    const page: Page = await chromium.browser.newPage();
    try {
      const landing = await page.goto(`http://${rebound}:${port}/`);
      expect(landing?.status()).toBe(403);
      const status = await page.evaluate(`fetch('/v1/models').then((r) => r.status)`);
      expect(status).toBe(403);
    } finally {
      await page.close();
    }
  });

  it("in Chromium: the server's own pages (the dashboard) still call /v1 and /api/v1", async () => {
    const page: Page = await chromium.browser.newPage();
    try {
      const landing = await page.goto(`${server.baseUrl}/`);
      expect(landing?.status()).toBe(200);
      // Chromium sends Origin with a same-origin POST: it names this server, so the chat is served.
      const chat = await page.evaluate(`fetch('/v1/chat/completions', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(chatBody)},
      }).then((r) => r.status)`);
      expect(chat).toBe(200);
      expect(await page.evaluate(`fetch('/v1/models').then((r) => r.status)`)).toBe(200);
      // The management API still wants the admin key (401), not a cross-origin refusal.
      const management = await page.evaluate(`fetch('/api/v1/keys', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
      }).then((r) => r.status)`);
      expect(management).toBe(401);
    } finally {
      await page.close();
    }
  });
});
