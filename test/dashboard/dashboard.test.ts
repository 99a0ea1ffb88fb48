import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdgeFleet, waitFor, type RunningEdgeFleet } from '../helpers/edgefleet-process.js';
import { makeTestModel, type TestModel } from '../helpers/models.js';
import { runCli } from '../fleet/fleet-processes.js';
import { startChromium, type RunningBrowser } from './browser.js';

/**
 * The web dashboard in real Chromium against a real `edgefleet up` (the built CLI serving dist/web/) with
 * generated models: log in, deploy, chat, see the traffic and the key's usage, manage keys, and check
 * layout, keyboard use and that no request leaves the server's origin.
 * EDGEFLEET_DASHBOARD_SCREENSHOTS=DIR also writes a 1280×800 PNG of every page into DIR.
 */
const screenshotDir = process.env.EDGEFLEET_DASHBOARD_SCREENSHOTS;
const pages = [
  'fleet',
  'nodes',
  'deployments',
  'endpoints',
  'traffic',
  'keys',
  'planner',
  'playground',
] as const;

describe('web dashboard in Chromium against edgefleet up', () => {
  let think: TestModel;
  let plain: TestModel;
  let server: RunningEdgeFleet;
  let chromium: RunningBrowser;
  let context: BrowserContext;
  let page: Page;
  let adminKey: string;
  const requested: string[] = [];

  const admin = async <T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> => {
    const response = await fetch(`${server.baseUrl}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  const open = async (name: (typeof pages)[number]): Promise<void> => {
    await page.goto(`${server.baseUrl}/#/${name}`);
    await page.locator('#page-title').waitFor();
  };
  const roomCard = (name: string) =>
    page.getByTestId('room-card').filter({ has: page.getByRole('heading', { name, exact: true }) });
  /** Polls a browser expression (a string: the page's CSP forbids the eval behind waitForFunction). */
  const until = (expression: string, what: string): Promise<true> =>
    waitFor(async () => ((await page.evaluate(expression)) ? true : undefined), 10_000, what);
  const noHorizontalOverflow = async (): Promise<boolean> =>
    (await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')) as boolean;

  beforeAll(async () => {
    [think, plain] = await Promise.all([makeTestModel({ think: true }), makeTestModel({})]);
    // --require-key: the playground's requests are metered under the admin key, not as anonymous.
    server = await startEdgeFleet([
      '--model',
      think.path,
      '--name',
      'thinker',
      '--context',
      '512',
      '--offline',
      '--require-key',
    ]);
    adminKey = (await readFile(join(server.home, 'admin-key'), 'utf8')).trim();
    // A second room whose only node registers through the worker protocol and then goes silent: after
    // `up`'s node timeout (15 s) the control plane marks it down, as for a room cut off from it.
    const register = async (
      joinToken: string,
      name: string,
      site: string,
      region: string,
    ): Promise<{ credential: string }> => {
      const registered = await fetch(`${server.baseUrl}/api/v1/worker/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          joinToken,
          name,
          site,
          region,
          address: '127.0.0.1:9',
          devices: [
            {
              index: 0,
              vendor: 'nvidia',
              kind: 'gpu',
              name: 'NVIDIA H20',
              memoryBytes: 96 * 2 ** 30,
              hardwareId: 'h20',
            },
          ],
          cpu: { cores: 32, memoryBytes: 256 * 2 ** 30 },
        }),
      });
      expect(registered.status).toBe(200);
      return (await registered.json()) as { credential: string };
    };
    await register(
      (await readFile(join(server.home, 'join-token'), 'utf8')).trim(),
      'gpu-1',
      'edge-b',
      'south',
    );
    // A third room whose node's worker shut down and said so (its last heartbeat: `leaving`). A join
    // token registers one worker: this one gets a new one.
    const minted = await runCli(['server', 'token', '--home', server.home]);
    expect(minted.code, minted.stderr).toBe(0);
    const leaver = await register(minted.stdout.trim(), 'gpu-2', 'edge-c', 'west');
    const left = await fetch(`${server.baseUrl}/api/v1/worker/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${leaver.credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [], leaving: true }),
    });
    expect(left.status).toBe(200);
    chromium = await startChromium();
    context = await chromium.browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on('request', (request) => requested.push(request.url()));
  });

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await chromium?.close();
    await server?.stop();
  });

  it('refuses a wrong admin key and an inference key, showing no data', async () => {
    await page.goto(`${server.baseUrl}/`);
    await page.getByLabel('Admin key').fill('ef_admin_not-the-right-one');
    await page.getByRole('button', { name: 'Log in' }).click();
    const error = page.getByTestId('login-error');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/refused/);
    expect(await page.locator('nav').count()).toBe(0);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);

    const inference = await admin<{ key: string }>('/api/v1/keys', { body: { name: 'dashboard-inference' } });
    await page.getByLabel('Admin key').fill(inference.key);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('needs an admin key').waitFor();
    expect(await page.locator('nav').count()).toBe(0);
  });

  it('logs in with the admin key and shows the room and its node', async () => {
    await page.getByLabel('Admin key').fill(adminKey);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    const room = roomCard('local');
    await room.waitFor();
    expect(await room.locator('.badge').textContent()).toBe('up');
    // The key is kept for the tab only.
    expect(await page.evaluate('sessionStorage.getItem("edgefleet.adminKey")')).toBe(adminKey);

    await open('nodes');
    const node = page.getByTestId('node-card').filter({ hasText: 'thinker' });
    await node.waitFor();
    expect(await node.locator('.badge').first().textContent()).toBe('up');
    expect(await node.getByTestId('device-row').count()).toBeGreaterThan(0);
    expect(await node.getByTestId('node-heartbeat').textContent()).toMatch(/s ago/);
    expect(await node.textContent()).toContain('thinker');
  });

  it('is keyboard navigable: Tab reaches the navigation and Enter opens a page', async () => {
    await open('fleet');
    await page.evaluate('document.activeElement && document.activeElement.blur()');
    let onNavLink = false;
    for (let i = 0; i < 10 && !onNavLink; i++) {
      await page.keyboard.press('Tab');
      onNavLink = (await page.evaluate(
        '!!document.activeElement?.closest("nav") && document.activeElement.tagName === "A"',
      )) as boolean;
    }
    expect(onNavLink).toBe(true);
    // From the first link (Fleet) one more Tab is Nodes; Enter follows it and the heading takes the focus.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.getAttribute("href")')).toBe('#/nodes');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/nodes$/);
    await page.getByRole('heading', { name: 'Nodes and devices' }).waitFor();
    await until('document.activeElement?.id === "page-title"', 'the focus on the page heading');
  });

  it('creates a deployment of a generated GGUF model, shows the fit first, and the instance becomes ready', async () => {
    await open('deployments');
    const form = page.getByTestId('deployment-form');
    await form.getByLabel(/^Name/).fill('tiny');
    await form.getByLabel('Model', { exact: true }).fill(plain.path);
    await form.getByRole('checkbox', { name: 'local' }).check();
    const context = form.getByLabel('Context per stream (tokens)');
    await context.fill('many');
    await form.getByRole('button', { name: 'Check fit' }).click();
    expect(await form.getByRole('alert').textContent()).toContain('context must be a whole number');
    await context.fill('384');
    const create = page.getByTestId('deployment-create');
    expect(await create.isDisabled()).toBe(true);
    await form.getByRole('button', { name: 'Check fit' }).click();
    const preview = page.getByTestId('deployment-preview');
    await preview.waitFor();
    expect(await preview.textContent()).toMatch(/fits|preview/);
    expect(await create.isEnabled()).toBe(true);
    await create.click();

    const card = page.locator('[data-testid="deployment-card"][data-name="tiny"]');
    await card.waitFor();
    await card.locator('[data-testid="instance-row"][data-state="running"]').waitFor({ timeout: 60_000 });
    await page.locator('[data-testid="deployment-card"][data-name="tiny"][data-status="running"]').waitFor();
    const deployments = await admin<{
      data: Array<{ id: string; name: string; status: string; contextTokens: number | null }>;
    }>('/api/v1/deployments');
    expect(deployments.data.find((d) => d.name === 'tiny')).toMatchObject({
      status: 'running',
      contextTokens: 384,
    });
    expect(await card.textContent()).toContain('context 384');

    // Scaled in place to two replicas and back to one.
    const runningRows = card.locator('[data-testid="instance-row"][data-state="running"]');
    const scale = async (replicas: string) => {
      await card.getByRole('button', { name: 'Scale tiny…' }).click();
      const form = card.getByTestId('deployment-scale-form');
      await form.getByLabel('Replicas', { exact: true }).fill(replicas);
      await form.getByRole('button', { name: 'Save' }).click();
      return form;
    };
    const refused = await scale('two');
    expect(await refused.getByRole('alert').textContent()).toContain('replicas must be a whole number');
    await refused.getByRole('button', { name: 'Cancel' }).click();
    await scale('2');
    await waitFor(async () => ((await runningRows.count()) === 2 ? true : undefined), 60_000, 'two replicas');
    await scale('1');
    await waitFor(
      async () => ((await card.locator('[data-testid="instance-row"]').count()) === 1 ? true : undefined),
      30_000,
      'one replica again',
    );
    expect(
      (await admin<{ data: Array<{ name: string; replicas: number }> }>('/api/v1/deployments')).data.find(
        (d) => d.name === 'tiny',
      )?.replicas,
    ).toBe(1);

    // The tail of the instance's log opens under it, as the logs API answers (or says the server has none).
    await card.getByTestId('instance-log-toggle').first().click();
    const log = card.getByTestId('instance-log');
    await log.waitFor();
    const tiny = deployments.data.find((d) => d.name === 'tiny');
    const instances = await admin<{ data: Array<{ id: string; deploymentId: string }> }>('/api/v1/instances');
    const instance = instances.data.find((i) => i.deploymentId === tiny?.id);
    const logs = await fetch(`${server.baseUrl}/api/v1/instances/${instance?.id}/logs?lines=200`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    if (logs.ok) {
      await log.locator('pre').waitFor();
      const { lines } = (await logs.json()) as { lines: string[] };
      if (lines.length > 0) expect(await log.locator('pre').textContent()).toContain(lines[0]);
    } else {
      expect(logs.status).toBe(404);
      await log.getByText('not available on this server').waitFor();
    }

    // A new context through Change…: a rolling update to revision 2, whose instance replaces the first.
    await card.getByRole('button', { name: 'Change tiny…' }).click();
    const change = card.getByTestId('deployment-change-form');
    expect(await change.getByLabel('Model', { exact: true }).inputValue()).toBe(plain.path);
    expect(await change.getByRole('checkbox', { name: 'local' }).isChecked()).toBe(true);
    await change.getByLabel('Context per stream (tokens)').fill('320');
    await change.getByRole('button', { name: 'Save' }).click();
    await change.waitFor({ state: 'detached' });
    await card.locator('[data-testid="instance-row"][data-revision="2"][data-state="running"]').waitFor({
      timeout: 60_000,
    });
    await waitFor(
      async () => ((await card.locator('[data-testid="instance-row"]').count()) === 1 ? true : undefined),
      30_000,
      'the first instance to be replaced',
    );
    expect(await card.textContent()).toContain('context 320');
    expect(await card.textContent()).toContain('revision 2');
    expect(
      (
        await admin<{ data: Array<{ name: string; revision: number; contextTokens: number }> }>(
          '/api/v1/deployments',
        )
      ).data.find((d) => d.name === 'tiny'),
    ).toMatchObject({ revision: 2, contextTokens: 320 });
  }, 120_000);

  it('chats in the playground: streamed text, a collapsible reasoning block, routing headers and speed', async () => {
    await open('playground');
    const model = page.getByTestId('chat-model');
    await page
      .getByTestId('chat-model')
      .locator('option', { hasText: /^thinker$/ })
      .waitFor({ state: 'attached' });
    await model.selectOption('thinker');
    await page.getByTestId('chat-temperature').fill('0');
    await page.getByLabel('Message').fill('why?');
    await page.getByTestId('chat-send').click();
    const answer = page.getByTestId('chat-answer').last();
    await page.locator('[data-testid="chat-answer"][data-done="true"]').waitFor({ timeout: 30_000 });

    expect(await answer.getByTestId('chat-reasoning-text').textContent()).toBe(think.expectedReasoning);
    expect(await answer.getByTestId('chat-content').textContent()).toBe(think.expectedContent);
    expect(Number(await answer.getAttribute('data-events'))).toBeGreaterThan(3);
    expect(await answer.getByTestId('chat-site').textContent()).toBe('local');
    expect(await answer.getByTestId('chat-instance').textContent()).toMatch(/\S{6,}/);
    expect(await answer.getByTestId('chat-speed').textContent()).toMatch(/^[\d.,]+ tok\/s$/);

    const reasoning = answer.getByTestId('chat-reasoning');
    expect(await reasoning.evaluate((el) => (el as unknown as { open: boolean }).open)).toBe(true);
    await reasoning.locator('summary').click();
    expect(await reasoning.evaluate((el) => (el as unknown as { open: boolean }).open)).toBe(false);
    expect(await answer.getByTestId('chat-reasoning-text').isVisible()).toBe(false);
  });

  it('shows that request in the traffic charts and in the admin key usage', async () => {
    await open('traffic');
    await waitFor(
      async () => ((await page.getByTestId('traffic-requests').textContent()) !== '0' ? true : undefined),
      20_000,
      'the request in the traffic summary',
    );
    expect(Number(await page.getByTestId('traffic-requests').textContent())).toBeGreaterThanOrEqual(1);
    expect(await page.getByTestId('chart-requests').locator('canvas').count()).toBeGreaterThan(0);
    // The chart is rebuilt with the new series in an effect after the render that shows the count.
    await page
      .getByTestId('chart-requests')
      .locator('.u-legend', { hasText: 'local · thinker' })
      .waitFor({ timeout: 10_000 });
    const row = page.locator('[data-testid="key-usage-row"][data-key="admin"]');
    await row.waitFor({ timeout: 20_000 });
    expect(Number(await row.getByTestId('key-usage-requests').textContent())).toBeGreaterThanOrEqual(1);
  });

  it('makes a room that is cut off stand out on the fleet and nodes pages', async () => {
    await open('fleet');
    const room = page.locator('[data-testid="room-card"].room-down').filter({
      has: page.getByRole('heading', { name: 'edge-b', exact: true }),
    });
    await room.waitFor({ timeout: 30_000 });
    // Down rooms come first, with a banner that names them.
    expect(await page.getByTestId('room-card').first().locator('h2').textContent()).toBe('edge-b');
    // Down rooms say whether their nodes fell silent or their workers shut down.
    const alert = await page.getByTestId('fleet-alert').textContent();
    expect(alert).toContain('edge-b is down (cut off)');
    expect(alert).toContain('edge-c is down (its workers shut down)');
    expect(await room.textContent()).toMatch(/last heartbeat \d+ s ago/);
    expect(await roomCard('local').locator('.badge').textContent()).toBe('up');

    await open('nodes');
    const node = page.getByTestId('node-card').filter({ hasText: 'gpu-1' });
    await node.waitFor();
    expect(await node.getAttribute('class')).toContain('node-down');
    expect(await node.getByTestId('node-down-reason').textContent()).toMatch(/^No heartbeat/);
    const leftNode = page.getByTestId('node-card').filter({ hasText: 'gpu-2' });
    expect(await leftNode.getByTestId('node-down-reason').textContent()).toMatch(
      /^Left: its worker shut down/,
    );
    expect(await node.getByTestId('device-row').filter({ hasText: 'NVIDIA H20' }).textContent()).toContain(
      'h20',
    );
  }, 40_000);

  it('cordons, drains and returns a node to service from its card', async () => {
    await open('nodes');
    const node = page.getByTestId('node-card').filter({ hasText: 'gpu-1' });
    await node.waitFor();
    const maintenance = async () =>
      (await admin<{ data: { name: string; maintenance: string | null }[] }>('/api/v1/nodes')).data.find(
        (n) => n.name === 'gpu-1',
      )?.maintenance;
    /** Drain, confirmed, until its card says so. */
    const drain = async () => {
      await node.getByRole('button', { name: 'Drain gpu-1' }).click();
      await node.getByRole('button', { name: 'Confirm drain of gpu-1' }).click();
      await node.locator('.badge', { hasText: 'draining' }).waitFor();
    };
    expect(await node.locator('.badge').allTextContents()).not.toContain('cordoned');
    await node.getByRole('button', { name: 'Cordon gpu-1' }).click();
    await node.locator('.badge', { hasText: 'cordoned' }).waitFor();
    expect(await maintenance()).toBe('cordoned');
    expect(await node.getByRole('button', { name: 'Cordon gpu-1' }).count()).toBe(0);
    // Draining is asked once more; Cancel changes nothing.
    await node.getByRole('button', { name: 'Drain gpu-1' }).click();
    await node.getByRole('button', { name: 'Cancel' }).click();
    expect(await maintenance()).toBe('cordoned');
    await drain();
    expect(await maintenance()).toBe('draining');
    // Stopping a drain keeps the node cordoned.
    await node.getByRole('button', { name: 'Stop draining gpu-1' }).click();
    await node.locator('.badge', { hasText: 'cordoned' }).waitFor();
    expect(await maintenance()).toBe('cordoned');
    expect(await node.getByRole('button', { name: 'Stop draining gpu-1' }).count()).toBe(0);
    await drain();
    await node.getByRole('button', { name: 'Return to service gpu-1' }).click();
    await node.getByRole('button', { name: 'Cordon gpu-1' }).waitFor();
    expect(await maintenance()).toBeNull();
    expect(await node.locator('.badge').allTextContents()).not.toContain('draining');
  });

  it('creates a key whose secret is shown once, then revokes it', async () => {
    await open('keys');
    const form = page.getByTestId('key-form');
    await form.getByLabel('Name').fill('dashboard-team');
    await form.getByLabel('Requests per minute').fill('60');
    await form.getByRole('button', { name: 'Create key' }).click();
    const secret = page.getByTestId('key-secret-value');
    await secret.waitFor();
    const value = (await secret.textContent()) ?? '';
    expect(value).toMatch(/^ef_key_/);
    await page.getByRole('button', { name: 'Done, hide it' }).click();
    expect(await page.getByText(value).count()).toBe(0);
    await page.reload();
    await page.locator('[data-testid="key-row"][data-key="dashboard-team"]').waitFor();
    expect(await page.content()).not.toContain(value);

    const row = page.locator('[data-testid="key-row"][data-key="dashboard-team"]');
    expect(await row.textContent()).toContain('60 rpm');

    // Edited in place: the rpm raised, a token budget and a model list added; the secret stays.
    await row.getByRole('button', { name: 'Edit dashboard-team…' }).click();
    const edit = page.getByTestId('key-edit-form');
    await edit.getByLabel('Requests per minute').fill('abc');
    await edit.getByRole('button', { name: 'Save' }).click();
    expect(await edit.getByRole('alert').textContent()).toContain('rpm must be a whole number');
    await edit.getByLabel('Requests per minute').fill('');
    await edit.getByLabel('Token budget').fill('5000');
    await edit.getByLabel('Models (comma list; empty: all)').fill('not-deployed-model');
    await edit.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('key-warning').filter({ hasText: 'not-deployed-model' }).waitFor();
    await waitFor(
      async () => ((await row.textContent())?.includes('budget 5,000') ? true : undefined),
      10_000,
      'the edited limits in the table',
    );
    expect(await row.textContent()).not.toContain('rpm');
    const edited = await admin<{
      data: Array<{ name: string; rpm: number | null; tokenBudget: number | null; models: string[] | null }>;
    }>('/api/v1/keys');
    expect(edited.data.find((k) => k.name === 'dashboard-team')).toMatchObject({
      rpm: null,
      tokenBudget: 5000,
      models: ['not-deployed-model'],
    });
    // The same secret still authenticates (a key limited to a model nothing serves sees no models).
    const models = await fetch(`${server.baseUrl}/v1/models`, {
      headers: { authorization: `Bearer ${value}` },
    });
    expect(models.status).toBe(200);

    await row.getByRole('button', { name: 'Revoke dashboard-team…' }).click();
    await row.getByRole('button', { name: 'Revoke dashboard-team', exact: true }).click();
    await page.locator('[data-testid="key-row"][data-key="dashboard-team"][data-revoked="true"]').waitFor();
    const keys = await admin<{ data: Array<{ name: string; revokedAtMs: number | null }> }>('/api/v1/keys');
    expect(keys.data.find((k) => k.name === 'dashboard-team')?.revokedAtMs).toBeGreaterThan(0);
    await waitFor(
      async () =>
        (await fetch(`${server.baseUrl}/v1/models`, { headers: { authorization: `Bearer ${value}` } }))
          .status === 401
          ? true
          : undefined,
      10_000,
      'the revoked key to be refused',
    );
  });

  it('registers an external endpoint, shows its health check, rotates its key and removes it', async () => {
    await open('endpoints');
    await page.getByTestId('endpoints-empty').waitFor();
    // The "team's own server": this server's /v1, a real OpenAI-compatible upstream that wants a key
    // (--require-key) and serves the model as "thinker" where clients will ask for "outside-chat".
    const form = page.getByTestId('endpoint-form');
    await form.getByLabel('Model (the name clients use)').fill('outside-chat');
    await form.getByLabel('Base URL').fill(`${server.baseUrl}/v1/`);
    await form.getByLabel('Site (room)').fill('partner-room');
    await form.getByLabel('Upstream model name (optional)').fill('thinker');
    await form.getByRole('button', { name: 'Add endpoint' }).click();
    const row = page.locator('[data-testid="endpoint-row"][data-model="outside-chat"]');
    await row.waitFor();
    expect(await row.textContent()).toContain(server.baseUrl); // stored without the /v1/
    // Without its key the upstream answers 401: the check fails and says why.
    await row.and(page.locator('[data-health="unhealthy"]')).waitFor({ timeout: 20_000 });
    expect(await row.getByTestId('endpoint-error').textContent()).toContain('401');

    await row.getByRole('button', { name: `Edit outside-chat at ${server.baseUrl}…` }).click();
    const edit = page.getByTestId('endpoint-edit-form');
    await edit.getByLabel('New upstream API key').fill('two words');
    await edit.getByRole('button', { name: 'Save' }).click();
    expect(await edit.getByRole('alert').textContent()).toContain('without spaces');
    await edit.getByLabel('New upstream API key').fill(adminKey);
    await edit.getByRole('button', { name: 'Save' }).click();
    await row.and(page.locator('[data-health="healthy"]')).waitFor({ timeout: 20_000 });
    expect(await row.textContent()).toContain('upstream: thinker');
    expect(await row.locator('td').nth(4).textContent()).toBe('set');
    const listed = await admin<{ data: Array<{ model: string; hasApiKey: boolean }> }>('/api/v1/endpoints');
    expect(listed.data).toMatchObject([{ model: 'outside-chat', hasApiKey: true }]);
    expect(JSON.stringify(listed)).not.toContain(adminKey);
    // The gateway routes the new model name to it (once its route table has the endpoint).
    const answer = await waitFor(
      async () => {
        const response = await fetch(`${server.baseUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'outside-chat',
            messages: [{ role: 'user', content: 'hi' }],
            max_tokens: 4,
          }),
        });
        return response.status === 200 ? response : undefined;
      },
      15_000,
      'an answer through the endpoint',
    );
    expect(answer.headers.get('x-edgefleet-site')).toBe('partner-room');

    await row.getByRole('button', { name: `Remove outside-chat at ${server.baseUrl}…` }).click();
    await row.getByRole('button', { name: `Remove outside-chat at ${server.baseUrl}`, exact: true }).click();
    await page.getByTestId('endpoints-empty').waitFor();
    expect((await admin<{ data: unknown[] }>('/api/v1/endpoints')).data).toEqual([]);
  }, 60_000);

  it('shows the planner estimate with memory per device and a recommend list', async () => {
    await open('planner');
    await page.getByTestId('estimate').waitFor();
    expect(await page.getByTestId('memory-bar').textContent()).toMatch(/Memory per device/);
    await page.getByTestId('recommend').getByRole('button', { name: 'Recommend' }).click();
    await page.getByTestId('recommend-table').waitFor();
    expect(await page.getByTestId('recommend-table').locator('tbody tr').count()).toBeGreaterThan(0);
  });

  it('fits 1280×800 and a 390×844 phone without horizontal scrolling', async () => {
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      await page.setViewportSize(viewport);
      for (const name of pages) {
        await open(name);
        await page.waitForTimeout(150);
        expect({ viewport, name, fits: await noHorizontalOverflow() }).toEqual({
          viewport,
          name,
          fits: true,
        });
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it.runIf(screenshotDir !== undefined)(
    'writes a screenshot of every page',
    async () => {
      const dir = screenshotDir!;
      await mkdir(dir, { recursive: true });
      // A little traffic for the charts: a few answers from both deployments over some seconds.
      for (let i = 0; i < 12; i++) {
        await fetch(`${server.baseUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: i % 3 === 0 ? 'tiny' : 'thinker',
            messages: [{ role: 'user', content: `question ${i}` }],
            stream: true,
            max_tokens: 64,
          }),
        }).then((r) => r.text());
        await new Promise((resolve) => setTimeout(resolve, 1500));
      }
      for (const name of pages) {
        await open(name);
        if (name === 'playground') {
          await page
            .getByTestId('chat-model')
            .locator('option', { hasText: /^tiny$/ })
            .waitFor({ state: 'attached' });
          await page.getByTestId('chat-model').selectOption('thinker');
          await page.getByTestId('chat-temperature').fill('0');
          await page.getByLabel('Message').fill('Why is the sky blue?');
          await page.getByTestId('chat-send').click();
          await page.locator('[data-testid="chat-answer"][data-done="true"]').waitFor();
        }
        if (name === 'endpoints') {
          // One endpoint that answers (this server, with its key) and one that refuses connections.
          await admin('/api/v1/endpoints', {
            body: {
              model: 'outside-chat',
              url: server.baseUrl,
              site: 'partner-room',
              apiKey: adminKey,
              upstreamModel: 'thinker',
            },
          });
          await admin('/api/v1/endpoints', {
            body: { model: 'mindie-qwen', url: 'http://127.0.0.1:9', site: 'edge-b' },
          });
          await page
            .locator('[data-testid="endpoint-row"][data-health="unhealthy"]')
            .waitFor({ timeout: 20_000 });
          await page
            .locator('[data-testid="endpoint-row"][data-health="healthy"]')
            .waitFor({ timeout: 20_000 });
        }
        if (name === 'keys') {
          // A key with every limit, its edit form open.
          const limits = { rpm: 60, tpm: 20_000, tokenBudget: 5_000_000, region: 'cn-east' };
          await admin('/api/v1/keys', { body: { name: 'team-a', models: ['thinker'], ...limits } });
          await page.locator('[data-testid="key-row"][data-key="team-a"]').waitFor();
          await page.getByRole('button', { name: 'Edit team-a…' }).click();
          await page.getByTestId('key-edit-form').getByLabel('Token budget').fill('10000000');
        }
        if (name === 'planner') {
          await page.getByTestId('estimate').waitFor();
          await page.getByTestId('recommend').getByRole('button', { name: 'Recommend' }).click();
          await page.getByTestId('recommend-table').waitFor();
        }
        if (name === 'deployments') {
          // A catalog model in the form with the planner's fit, and the log of a running instance.
          const form = page.getByTestId('deployment-form');
          await form.getByLabel(/^Name/).fill('r1-7b');
          await form.getByLabel('Model', { exact: true }).fill('deepseek-r1-distill-qwen-7b');
          await form.getByLabel('Quantization').selectOption('q4_k_m');
          await form.getByRole('button', { name: 'Check fit' }).click();
          await page.getByTestId('deployment-preview').waitFor();
          await page.getByTestId('instance-log-toggle').first().click();
          await page.getByTestId('instance-log').waitFor();
        }
        await page.waitForTimeout(name === 'traffic' ? 5500 : 800);
        await page.screenshot({
          path: join(dir, `dashboard-${name}.png`),
          fullPage: name === 'traffic' || name === 'deployments' || name === 'planner',
          // The recommend list runs to 50 rows: its top is enough.
          ...(name === 'planner' && { clip: { x: 0, y: 0, width: 1280, height: 1500 } }),
        });
      }
    },
    120_000,
  );

  it('made no request outside the server it was opened from', () => {
    expect(requested.length).toBeGreaterThan(10);
    const foreign = requested.filter(
      (url) => !url.startsWith(`${server.baseUrl}/`) && !url.startsWith('data:'),
    );
    expect(foreign).toEqual([]);
  });
});
