#!/usr/bin/env node
/**
 * The gateway under test, wired as `edgefleet gateway` wires it (src/gateway/sync/standalone-gateway.ts)
 * from the built modules in dist/: FleetGateway with the default routing (health checks started), a
 * real UsageJournal (fsynced, group commit) in a temporary directory with the real metering, and the
 * same request handler (`/health`, `/metrics`, `/v1/…`, errors through sendError). Only the sources
 * are static: one model, `bench`, with one instance at `--upstream`, and (with `--keys`) one API key
 * looked up by its sha256 like HttpKeyLookup, through the real KeyGuard and LocalRateLimiter.
 *
 *   node bench/gateway/gateway.mjs --upstream http://127.0.0.1:PORT [--port 0] [--keys] [--journal-parent DIR]
 *                                   [--journal-sync always|interval] [--workers N] [--dist DIR]
 *
 * The journal lives in a new directory under --journal-parent (default: the OS temp directory), removed on exit.
 * With --workers N (not with --keys), N such processes share the port under the same primary as
 * `edgefleet gateway --workers N` (gateway-workers.ts); each has its own journal and prints its own lines.
 *
 * --dist: the built modules to run (default this tree's dist/; paired.mjs points it at another build's).
 * Prints `listening <port>` on stdout. SIGTERM closes the journal and exits 0 (so `--cpu-prof` writes).
 */
import cluster from 'node:cluster';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const { values: flags } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    upstream: { type: 'string' },
    keys: { type: 'boolean', default: false },
    'journal-parent': { type: 'string' },
    'journal-sync': { type: 'string', default: 'always' },
    workers: { type: 'string', default: '1' },
    dist: { type: 'string', default: path.join(root, 'dist') },
  },
  strict: true,
});
const dist = (module) => import(path.join(flags.dist, module));

const workers = Number(flags.workers);
if (workers > 1 && flags.keys) {
  // `edgefleet gateway --workers` shares key limits through Redis; this bench does not wire that.
  process.stderr.write('--workers above 1 is measured without --keys\n');
  process.exit(2);
}
if (workers > 1 && cluster.isPrimary) {
  // Several processes behind one port, as `edgefleet gateway --workers N` runs them.
  const [{ runGatewayWorkers }, { createLogger }] = await Promise.all([
    dist('gateway/sync/gateway-workers.js'),
    dist('telemetry/logger.js'),
  ]);
  const code = await runGatewayWorkers({
    count: workers,
    log: createLogger('edgefleet-gateway-bench'),
    host: '127.0.0.1',
    port: Number(flags.port),
    onListening: ({ port }) => process.stdout.write(`listening ${port}\n`),
  });
  process.exit(code);
} else {
  await runGateway();
}

/** One gateway process (the only one, or one of `--workers`). */
async function runGateway() {
  const [
    { FleetGateway },
    { UsageJournal },
    { KeyGuard },
    { LocalRateLimiter },
    { sendError, sendJson },
    { EdgeFleetError },
    { createLogger },
    { createHttpServer },
    { resolveTarget },
  ] = await Promise.all([
    dist('gateway/fleet-gateway.js'),
    dist('gateway/metering/usage-journal.js'),
    dist('gateway/auth/key-guard.js'),
    dist('gateway/auth/local-rate-limiter.js'),
    dist('http/respond.js'),
    dist('spec/edgefleet-error.js'),
    dist('telemetry/logger.js'),
    dist('http/create-http-server.js'),
    dist('http/request-target.js'),
  ]);

  // A build from before resolveTarget (paired.mjs --base) parsed each target as below.
  const targetOf =
    resolveTarget ?? ((url) => ({ pathname: new URL(url ?? '/', 'http://localhost').pathname }));
  const benchKey = 'ef-bench-0123456789abcdef0123456789abcdef';

  const log = createLogger('edgefleet-gateway-bench');
  const table = {
    builtAtMs: Date.now(),
    models: [
      {
        name: 'bench',
        deploymentId: 'dep-bench',
        status: 'running',
        statusReason: null,
        createdAtMs: Date.now(),
        instances: [
          {
            id: 'inst-bench',
            deploymentId: 'dep-bench',
            nodeId: 'node-bench',
            nodeName: 'bench',
            siteId: 'site-bench',
            siteName: 'bench',
            region: null,
            url: flags.upstream,
          },
        ],
      },
    ],
  };
  const routes = { get: async () => table, refresh: async () => table };

  const sha256 = (text) => createHash('sha256').update(text, 'utf8').digest('hex');
  const principals = new Map([
    [
      sha256(benchKey),
      {
        keyId: 'key-bench',
        name: 'bench',
        role: 'inference',
        allowedModels: ['bench'],
        // Limits high enough never to refuse, so every request pays for checking them.
        rpm: 1_000_000_000,
        tpm: 1_000_000_000_000,
        tokenBudget: Number.MAX_SAFE_INTEGER,
        region: null,
        tokensUsed: 0,
      },
    ],
  ]);
  const limiter = new LocalRateLimiter();

  const journalDir = mkdtempSync(
    path.join(flags['journal-parent'] ?? os.tmpdir(), 'edgefleet-gateway-bench-'),
  );
  const journal = new UsageJournal(path.join(journalDir, 'usage-journal'), { sync: flags['journal-sync'] });
  await journal.open();
  const gateway = new FleetGateway({
    routes,
    log: log.child({ component: 'gateway' }),
    maxBodyBytes: 16 * 1024 * 1024,
    upstreamWaitMs: 30_000,
    ...(flags.keys && {
      guard: new KeyGuard({ lookup: async (secret) => principals.get(sha256(secret)) ?? null, limiter, log }),
    }),
    recordUsage: (event) => journal.append(event),
  });

  const handle = async (request, response) => {
    const { pathname } = targetOf(request.url);
    try {
      if (pathname === '/health') return sendJson(response, 200, { status: 'ok' });
      if (pathname === '/metrics') {
        response.writeHead(200, { 'content-type': gateway.registry.contentType });
        response.end(await gateway.registry.metrics());
        return;
      }
      if (pathname.startsWith('/v1/')) return await gateway.handle(request, response, pathname);
      throw new EdgeFleetError('not_found', `no route ${pathname}`);
    } catch (error) {
      if (!(error instanceof EdgeFleetError) || error.status >= 500) {
        log.error({ err: error, method: request.method, path: pathname }, 'request failed');
      }
      sendError(response, error);
    }
  };
  const server = createHttpServer((request, response) => void handle(request, response));
  // Connections tracked for a graceful close, as `edgefleet gateway` does (a build from before: none).
  const tracking = await dist('http/graceful-close.js').catch(() => undefined);
  tracking?.trackConnections(server);
  // A worker serves the connections its primary hands it (a build from before that: node:cluster's).
  const handout = cluster.isWorker
    ? await dist('gateway/sync/connection-handout.js').catch(() => undefined)
    : undefined;
  if (handout) {
    const intake = handout.takeConnections(server);
    gateway.start();
    intake.ready();
  } else
    server.listen(Number(flags.port), '127.0.0.1', () => {
      gateway.start();
      process.stdout.write(`listening ${server.address().port}\n`);
    });

  const stop = async () => {
    server.close();
    server.closeAllConnections();
    await gateway.close();
    await journal.close();
    const dir = path.join(journalDir, 'usage-journal');
    const bytes = readdirSync(dir).reduce((n, name) => n + statSync(path.join(dir, name)).size, 0);
    rmSync(journalDir, { recursive: true, force: true });
    process.stdout.write(`journal ${bytes}\n`);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
