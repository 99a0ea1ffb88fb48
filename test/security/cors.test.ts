import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChromium, type RunningBrowser } from '../dashboard/browser.js';
import { closeServers, listen } from '../helpers/http-servers.js';
import {
  binPath,
  metricValue,
  scrapeMetrics,
  startEdgeFleet,
  type RunningEdgeFleet,
} from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';

/**
 * `--cors-origins`: a web app of another origin (a team's chat front-end) calls the gateway from the
 * browser with the official `openai` client (`dangerouslyAllowBrowser`, which sends its `x-stainless-*`
 * headers and so needs a preflight), while pages of origins not listed still get nothing. Real Chromium,
 * real `edgefleet up` processes (one that needs a key, one keyless on loopback, whose Origin check must let
 * the listed origin through), and the openai package as published, served to the page as ES modules.
 */
const openaiDir = fileURLToPath(new URL('../../node_modules/openai/', import.meta.url));

/** A site that serves a blank page and, under /openai/, the openai package's ES modules. */
function appSite() {
  return listen((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!path.startsWith('/openai/')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>chat app</title>');
      return;
    }
    const file = normalize(join(openaiDir, path.slice('/openai/'.length)));
    if (!file.startsWith(openaiDir) || !file.endsWith('.mjs')) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (text) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(text),
      () => res.writeHead(404).end(),
    );
  });
}

interface PageResult {
  ok: boolean;
  status?: number;
  instance?: string | null;
  text?: string;
  error?: string;
}

/**
 * In the page: stream a chat answer with the openai client; what the page could read, or its error. A
 * string, so that the test runner's transform leaves the page's dynamic `import` alone.
 */
function streamWithOpenAi(page: Page, baseURL: string, apiKey: string): Promise<PageResult> {
  return page.evaluate(`(async () => {
    try {
      const { default: OpenAI } = await import('/openai/index.mjs');
      const client = new OpenAI({
        baseURL: ${JSON.stringify(baseURL)}, apiKey: ${JSON.stringify(apiKey)},
        dangerouslyAllowBrowser: true, maxRetries: 0,
      });
      const { data, response } = await client.chat.completions
        .create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, stream: true })
        .withResponse();
      let text = '';
      for await (const chunk of data) text += chunk.choices[0]?.delta?.content ?? '';
      return { ok: true, status: response.status, instance: response.headers.get('x-edgefleet-instance'), text };
    } catch (error) {
      return { ok: false, ...(error.status !== undefined && { status: error.status }), error: String(error) };
    }
  })()`);
}

describe('--cors-origins: a web app of another origin uses the gateway from the browser', () => {
  let chromium: RunningBrowser;
  let app: string;
  let stranger: string;
  let keyed: RunningEdgeFleet;
  let keyless: RunningEdgeFleet;
  let inferenceKey: string;

  beforeAll(async () => {
    const model = await makeTestModel({});
    app = await appSite();
    stranger = await appSite();
    const common = ['--model', model.path, '--name', 'm', '--context', '256', '--offline', '--cors-origins'];
    [keyed, keyless] = await Promise.all([
      startEdgeFleet([...common, `${app},https://other.example`, '--require-key']),
      startEdgeFleet([...common, app]),
    ]);
    const adminKey = (await readFile(join(keyed.home, 'admin-key'), 'utf8')).trim();
    const created = await fetch(`${keyed.baseUrl}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'chat-app' }),
    });
    expect(created.status).toBe(201);
    inferenceKey = ((await created.json()) as { key: string }).key;
    chromium = await startChromium();
  });

  afterAll(async () => {
    await chromium?.close();
    await Promise.all([keyed?.stop(), keyless?.stop()]);
    await closeServers();
  });

  async function onPage<T>(origin: string, run: (page: Page) => Promise<T>): Promise<T> {
    const page = await chromium.browser.newPage();
    try {
      await page.goto(origin);
      return await run(page);
    } finally {
      await page.close();
    }
  }

  const refusals = async (server: RunningEdgeFleet, key?: string): Promise<number> =>
    metricValue(
      await scrapeMetrics(server.baseUrl, key),
      'edgefleet_server_http_requests_total{route="gateway",status="403"}',
    ) ?? 0;

  it('a listed origin streams an answer with its key and reads the routing headers', async () => {
    const result = await onPage(app, (page) => streamWithOpenAi(page, `${keyed.baseUrl}/v1`, inferenceKey));
    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(result.text?.length).toBeGreaterThan(0);
    expect(result.instance).toMatch(/\S/); // x-edgefleet-instance is exposed to the page
  });

  it('a listed origin reads why a request failed (a wrong key: 401 with its message)', async () => {
    const result = await onPage(app, (page) => streamWithOpenAi(page, `${keyed.baseUrl}/v1`, 'ef_sk_wrong'));
    expect(result.ok).toBe(false);
    expect(result.status).toBe(401);
  });

  it('an origin not listed gets nothing: its preflight is refused (403) and the page sees a network error', async () => {
    const before = await gatewayRefusalsOf(keyed);
    const result = await onPage(stranger, (page) =>
      streamWithOpenAi(page, `${keyed.baseUrl}/v1`, inferenceKey),
    );
    expect(result.ok).toBe(false);
    expect(result.status).toBeUndefined(); // no answer the page may read
    expect(result.error).toMatch(/Connection error/);
    expect(await gatewayRefusalsOf(keyed)).toBeGreaterThan(before);
  });

  it('keyless up on loopback: the listed origin is served, other origins are still refused', async () => {
    const served = await onPage(app, (page) => streamWithOpenAi(page, `${keyless.baseUrl}/v1`, 'unused'));
    expect(served).toMatchObject({ ok: true, status: 200 });
    expect(served.text?.length).toBeGreaterThan(0);
    const before = await refusals(keyless);
    const refused = await onPage(stranger, (page) =>
      streamWithOpenAi(page, `${keyless.baseUrl}/v1`, 'unused'),
    );
    expect(refused.ok).toBe(false);
    expect(refused.status).toBeUndefined();
    expect(await refusals(keyless)).toBeGreaterThan(before);
    // The management API is not opened by --cors-origins: its Origin check still refuses the app.
    const management = await fetch(`${keyless.baseUrl}/api/v1/nodes`, { headers: { origin: app } });
    expect(management.status).toBe(403);
  });

  it('up says at start what * opens without a key, and refuses what is not an origin', () => {
    const up = (...flags: string[]) =>
      spawnSync(process.execPath, [binPath, 'up', '--model', '/nonexistent.gguf', '--port', '0', ...flags], {
        encoding: 'utf8',
        env: { ...process.env, EDGEFLEET_HOME: join(tmpdir(), 'ef-cors-flags-unused') },
      });
    expect(up('--cors-origins', '*').stderr).toContain('lets every web page open in your browser use');
    expect(up('--cors-origins', '*', '--require-key').stderr).not.toContain('every web page');
    const bad = up('--cors-origins', 'https://chat.example/app');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(
      'is not an origin (http(s)://host[:port], no path); did you mean https://chat.example?',
    );
  });

  async function gatewayRefusalsOf(server: RunningEdgeFleet): Promise<number> {
    const adminKey = (await readFile(join(server.home, 'admin-key'), 'utf8')).trim();
    return refusals(server, adminKey);
  }
});
