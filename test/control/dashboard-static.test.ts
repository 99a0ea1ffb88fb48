import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlServer } from '../../src/control/server/control-server.js';
import { defaultWebDir } from '../../src/control/server/dashboard-files.js';
import { bootstrapSecrets } from '../../src/control/server/secrets.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { binPath, scrapeMetrics } from '../helpers/edgefleet-process.js';

const indexHtml =
  '<!doctype html><html><head><script type="module" src="/assets/app-Bx12cd34.js"></script></head><body>EdgeFleet dashboard</body></html>';
const appJs = 'console.log("dashboard");';

/** A dashboard build as `npm run build` lays it out, plus files outside it that must never be served. */
async function writeBuild(root: string): Promise<string> {
  const web = join(root, 'web');
  await mkdir(join(web, 'assets'), { recursive: true });
  await writeFile(join(web, 'index.html'), indexHtml);
  await writeFile(join(web, 'assets', 'app-Bx12cd34.js'), appJs);
  await writeFile(join(web, 'assets', 'style-A1b2C3d4.css'), 'body{color:red}');
  await writeFile(join(web, 'assets', 'logo-9f8e7d6c.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  await writeFile(join(web, 'assets', 'chart-00aa11bb.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  await writeFile(join(web, 'assets', 'inter-5e6f7a8b.woff2'), Buffer.from('wOF2'));
  await writeFile(join(web, 'favicon.ico'), Buffer.from([0, 0, 1, 0]));
  await writeFile(join(root, 'secret.txt'), 'outside the build');
  await symlink(join(root, 'secret.txt'), join(web, 'assets', 'link-12345678.js'));
  return web;
}

/** A raw HTTP GET that sends `path` exactly as written (fetch would normalise `..`). */
function rawGet(
  baseUrl: string,
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(baseUrl);
  return new Promise((done, fail) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('dashboard static files (control server)', () => {
  let root: string;
  let store: Store;
  let control: ControlServer;
  let baseUrl: string;
  let missing: ControlServer;
  let missingUrl: string;
  let adminKey = '';

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ef-dashboard-'));
    const web = await writeBuild(root);
    store = await openStore(`sqlite:${join(root, 'edgefleet.db')}`);
    adminKey = (await bootstrapSecrets(store, root)).created!.adminKey;
    const log = pino({ level: 'silent' });
    control = new ControlServer({ store, log, webDir: web });
    missing = new ControlServer({ store, log, webDir: join(root, 'not-built') });
    for (const server of [control, missing]) {
      server.server.listen(0, '127.0.0.1');
      await once(server.server, 'listening');
    }
    baseUrl = `http://127.0.0.1:${(control.server.address() as AddressInfo).port}`;
    missingUrl = `http://127.0.0.1:${(missing.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await control?.close();
    await missing?.close();
    await store?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('serves index.html at / and /index.html without a credential, not cached', async () => {
    for (const path of ['/', '/index.html']) {
      const response = await fetch(`${baseUrl}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(await response.text()).toBe(indexHtml);
    }
  });

  it('serves hashed assets with their content type and an immutable cache header', async () => {
    const expected: [string, string][] = [
      ['/assets/app-Bx12cd34.js', 'text/javascript; charset=utf-8'],
      ['/assets/style-A1b2C3d4.css', 'text/css; charset=utf-8'],
      ['/assets/logo-9f8e7d6c.svg', 'image/svg+xml'],
      ['/assets/chart-00aa11bb.png', 'image/png'],
      ['/assets/inter-5e6f7a8b.woff2', 'font/woff2'],
    ];
    for (const [path, type] of expected) {
      const response = await fetch(`${baseUrl}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type'), path).toBe(type);
      expect(response.headers.get('cache-control'), path).toBe('public, max-age=31536000, immutable');
    }
    expect(await (await fetch(`${baseUrl}/assets/app-Bx12cd34.js`)).text()).toBe(appJs);
    const icon = await fetch(`${baseUrl}/favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/x-icon');
    expect(icon.headers.get('cache-control')).toBe('no-cache');
  });

  it('answers HEAD with headers only and refuses other methods', async () => {
    const head = await rawGet(baseUrl, '/assets/app-Bx12cd34.js', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(appJs)));
    expect(head.body).toBe('');
    const post = await fetch(`${baseUrl}/`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
  });

  it('never serves a file outside the build folder', async () => {
    const attempts = [
      '/assets/../../package.json',
      '/assets/../../secret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/%2E%2E%2F%2E%2E%2Fsecret.txt',
      '/assets/..%5c..%5csecret.txt',
      '/assets/link-12345678.js',
      '/assets/%00.js',
      '/assets/%E0%A4%A.js',
      '/secret.txt',
      '/../secret.txt',
      '/assets/',
      '/assets/missing-00000000.js',
    ];
    for (const path of attempts) {
      const response = await rawGet(baseUrl, path);
      expect(response.status, path).toBe(404);
      expect(response.body, path).not.toContain('outside the build');
      expect((JSON.parse(response.body) as { error: { code: string } }).error.code, path).toBe('not_found');
    }
  });

  it('says to run npm run build when there is no build', async () => {
    const response = await fetch(`${missingUrl}/`);
    expect(response.status).toBe(404);
    const body = (await response.json()) as { error: { message: string; code: string } };
    expect(body.error.code).toBe('not_found');
    expect(body.error.message).toContain('npm run build');
    expect((await fetch(`${missingUrl}/assets/app-Bx12cd34.js`)).status).toBe(404);
  });

  it('leaves the API, /health and /metrics as they were', async () => {
    expect((await fetch(`${baseUrl}/health`)).status).toBe(200);
    expect((await fetch(`${baseUrl}/metrics`)).status).toBe(401);
    expect(await scrapeMetrics(baseUrl, adminKey)).toMatch(
      /edgefleet_server_http_requests_total\{route="dashboard"/,
    );
    const api = await fetch(`${baseUrl}/api/v1/sites`);
    expect(api.status).toBe(401);
    const unknown = await fetch(`${baseUrl}/nothing-here`);
    expect(unknown.status).toBe(404);
  });

  it('defaults to dist/web of this checkout', () => {
    const checkout = resolve(fileURLToPath(new URL('../..', import.meta.url)));
    expect(defaultWebDir({})).toBe(join(checkout, 'dist', 'web'));
    expect(defaultWebDir({ EDGEFLEET_WEB_DIR: '/srv/dashboard' })).toBe('/srv/dashboard');
  });
});

describe('dashboard beside the gateway (built `edgefleet server`)', () => {
  let root: string;
  let child: ChildProcess;
  let baseUrl = '';

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ef-dashboard-cli-'));
    const web = await writeBuild(root);
    child = spawn(process.execPath, [binPath, 'server', '--home', join(root, 'home'), '--port', '0'], {
      env: { ...process.env, EDGEFLEET_LOG_LEVEL: 'warn', EDGEFLEET_WEB_DIR: web },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (out += text));
    child.stderr!.resume();
    const deadline = Date.now() + 30_000;
    while (!baseUrl) {
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) baseUrl = match[1];
      else if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`server did not start: ${out}`);
      else await new Promise((done) => setTimeout(done, 50));
    }
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    }
    await rm(root, { recursive: true, force: true });
  });

  it('serves the dashboard while /v1, /api/v1, /health and /metrics answer as before', async () => {
    const page = await fetch(`${baseUrl}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toBe(indexHtml);
    const asset = await fetch(`${baseUrl}/assets/app-Bx12cd34.js`);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await rawGet(baseUrl, '/assets/%2e%2e/%2e%2e/secret.txt')).status).toBe(404);

    const models = await fetch(`${baseUrl}/v1/models`);
    expect(models.status).toBe(401);
    expect(((await models.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    expect((await fetch(`${baseUrl}/api/v1/deployments`)).status).toBe(401);
    expect((await fetch(`${baseUrl}/health`)).status).toBe(200);
    expect((await fetch(`${baseUrl}/metrics`)).status).toBe(401);
    const adminKey = (await readFile(join(root, 'home', 'admin-key'), 'utf8')).trim();
    expect(await scrapeMetrics(baseUrl, adminKey)).toContain('edgefleet_server_http_requests_total');
  });
});
