/**
 * `edgefleet gateway`: a per-room gateway in its own process. It serves the OpenAI-compatible API for
 * one site from routes and API keys it pulls from the control plane and caches on disk, so the room
 * keeps serving while the control plane is unreachable; usage is journaled locally and shipped.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import cluster from 'node:cluster';
import { gatewayWorker, runGatewayWorkers } from '../gateway/sync/gateway-workers.js';
import { startStandaloneGateway } from '../gateway/sync/standalone-gateway.js';
import { listeningUrl } from '../http/create-http-server.js';
import { readServerTls, readTrustedCas } from '../http/tls-options.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { createLogger } from '../telemetry/logger.js';
import { resolveHome } from '../worker/models/model-cache.js';
import {
  makeLimiter,
  redisOption,
  routingFlagsHelp,
  journalSyncOption,
  routingOption,
  corsOption,
} from './gateway-options.js';
import { intFlag, parseFlags, portFlag, serverUrlFlag } from './parse-flags.js';

/** More processes than this is a typo rather than a machine. */
const maxWorkers = 256;

const help = `usage: edgefleet gateway --server URL --site SITE [options]

Runs a gateway for one site (machine room): the OpenAI-compatible API (/v1, API keys required),
/health and /metrics (an admin or metrics key). It pulls the route table (every second) and the API keys (every 5 s) from the
control plane and caches both in <home>/gateway-cache, so it keeps serving the room's instances with
the keys it knew while the control plane is unreachable, also across its own restarts. Every request's
usage is written to <home>/usage-journal before the answer completes and shipped to the control plane.
  --server URL          control-plane URL (required; also $EDGEFLEET_SERVER)
  --site SITE           the site this gateway serves (required; a name the control plane does not
                        know is warned about in the log and on /health)
  --region R            the region of the site (default: the site's region as the control plane knows it)
  --port N              port (default 8080)
  --workers N           gateway processes sharing the port, to use N CPU cores (default 1; above 1
                        needs --redis for key limits; each worker keeps its own usage journal)
  --host H              address to listen on (default 127.0.0.1)
  --home DIR            data directory, not a server's (default $EDGEFLEET_HOME or ~/.edgefleet)
  --api-key KEY         a gateway key (edgefleet keys create --role gateway) or the admin key
                        (default $EDGEFLEET_API_KEY, else <home>/admin-key)
${routingFlagsHelp}  --max-body-bytes N    largest /v1 request body (default 8388608)
  --upstream-wait-ms N  how long a /v1 request waits for a running instance of its model (default 10000)
  --tls-cert FILE       serve HTTPS with this PEM certificate (chain); needs --tls-key
  --tls-key FILE        the PEM private key of --tls-cert
  --tls-ca FILE         PEM CA certificate(s) to trust, besides the system's, for an https --server

The gateway key lets it read routes, key hashes and limits and ship usage, nothing else: a room
gateway need not hold the admin key.
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    server: { type: 'string' },
    site: { type: 'string' },
    region: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    home: { type: 'string' },
    'api-key': { type: 'string' },
    redis: { type: 'string' },
    'routing-config': { type: 'string' },
    'cors-origins': { type: 'string' },
    'journal-sync': { type: 'string' },
    'max-body-bytes': { type: 'string' },
    'upstream-wait-ms': { type: 'string' },
    workers: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-ca': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const rawServer = values.server ?? (process.env['EDGEFLEET_SERVER'] || undefined);
  if (rawServer === undefined)
    throw new EdgeFleetError('invalid_argument', `--server is required\n\n${help}`);
  const serverUrl = serverUrlFlag(rawServer);
  const site = values.site?.trim();
  if (!site) throw new EdgeFleetError('invalid_argument', `--site is required\n\n${help}`);
  // As long as a site's name can be (a worker's --site): every usage record carries it.
  if (site.length > 128) throw new EdgeFleetError('invalid_argument', '--site is longer than 128 characters');
  const tls = await readServerTls(values['tls-cert'], values['tls-key']);
  const tlsCa = await readTrustedCas(values['tls-ca']);
  const home = resolveHome(values.home);
  if (existsSync(join(home, 'edgefleet.db'))) {
    // The server journals its own gateway's usage in <home>/usage-journal too.
    throw new EdgeFleetError(
      'invalid_argument',
      `${home} is a server's home; give the gateway a home of its own (--home DIR)`,
    );
  }
  await mkdir(home, { recursive: true, mode: 0o700 });
  const apiKey = await readApiKey(values['api-key'], home);
  const workers = intFlag(values.workers, 'workers', 1, 1);
  if (workers > maxWorkers) {
    throw new EdgeFleetError('invalid_argument', `--workers must be at most ${maxWorkers}, got ${workers}`);
  }
  const { redisUrl } = redisOption(values.redis);
  if (workers > 1 && redisUrl === undefined) {
    throw new EdgeFleetError(
      'invalid_argument',
      '--workers above 1 needs --redis URL (or EDGEFLEET_REDIS_URL): the workers must share the key limits',
    );
  }
  // Read before workers are started and the limiter connects to Redis: a bad flag or routing file is a
  // usage error, said once, that leaves nothing open.
  const settings = {
    port: portFlag(values.port, 8080),
    maxBodyBytes: intFlag(values['max-body-bytes'], 'max-body-bytes', 8 * 1024 * 1024, 1024),
    upstreamWaitMs: intFlag(values['upstream-wait-ms'], 'upstream-wait-ms', 10_000, 0),
    ...(await routingOption(values['routing-config'])),
    ...journalSyncOption(values['journal-sync']),
    ...corsOption(values['cors-origins']),
  };
  const host = values.host ?? '127.0.0.1';
  const worker = workers > 1 ? gatewayWorker() : null;
  const workerIndex = worker?.index ?? null;
  const log = createLogger('gateway', { site, ...(workerIndex !== null && { worker: workerIndex }) });
  if (workers > 1 && cluster.isPrimary) {
    return runGatewayWorkers({
      count: workers,
      log,
      host,
      port: settings.port,
      onListening: ({ port }) => {
        const url = listeningUrl(host, port, tls !== undefined);
        log.info({ url, server: serverUrl, home, workers }, 'gateway listening');
        process.stdout.write(listeningLine(site, url, workers));
      },
    });
  }
  const limiter = await makeLimiter(redisUrl, log);

  const shutdown = new AbortController();
  const onSignal = () => shutdown.abort();
  // One process: a second signal ends it at once (Node's default). A worker stays on its first: stopping
  // a service signals every process of it and the primary then signals its workers again.
  const listen = workerIndex === null ? process.once.bind(process) : process.on.bind(process);
  listen('SIGINT', onSignal);
  listen('SIGTERM', onSignal);
  // A worker whose primary is gone (killed) stops too.
  if (workerIndex !== null) process.once('disconnect', onSignal);
  try {
    return await serveUntilSignalled(shutdown.signal, {
      serverUrl,
      apiKey,
      site,
      region: values.region?.trim() || null,
      home,
      host,
      ...settings,
      ...(worker !== null && { port: worker.port }),
      limiter,
      log,
      ...(tls && { tls }),
      ...(tlsCa && { tlsCa }),
      ...(workerIndex !== null && { worker: { index: workerIndex, count: workers } }),
    });
  } finally {
    // A worker's channel to its primary keeps it alive: let go of it once the worker is done or has failed
    // to start, so the primary hears of the exit at once. Through the worker object, not
    // `process.disconnect()`: a disconnect the worker did not ask for exits it with 0 at once.
    if (workerIndex !== null && cluster.worker?.isConnected()) cluster.worker.disconnect();
  }
}

/** Starts the room gateway, says where it listens (once, by the primary, with --workers), serves until `signal`. */
async function serveUntilSignalled(
  signal: AbortSignal,
  options: Parameters<typeof startStandaloneGateway>[0],
): Promise<number> {
  const gateway = await startStandaloneGateway(options);
  const { log, worker, serverUrl, home, site } = options;
  if (worker === undefined) {
    log.info(
      { url: gateway.url, server: serverUrl, home, origin: gateway.routes.origin },
      'gateway listening',
    );
    process.stdout.write(listeningLine(site, gateway.url, 1));
  }
  if (!signal.aborted) await once(signal, 'abort');
  log.info('shutting down');
  await gateway.close();
  return 0;
}

function listeningLine(site: string, url: string, workers: number): string {
  const processes = workers > 1 ? ` with ${workers} worker processes` : '';
  return `EdgeFleet gateway for site ${site} listening on ${url}${processes} (OpenAI API: ${url}/v1)\n`;
}

/** `--api-key`, else $EDGEFLEET_API_KEY, else `<home>/admin-key`. */
async function readApiKey(flag: string | undefined, home: string): Promise<string> {
  const given = flag ?? (process.env['EDGEFLEET_API_KEY'] || undefined);
  if (given !== undefined && given.trim() !== '') return given.trim();
  const file = join(home, 'admin-key');
  const fromFile = await readFile(file, 'utf8').then(
    (text) => text.trim(),
    () => '',
  );
  if (fromFile === '') {
    throw new EdgeFleetError(
      'invalid_argument',
      `no API key for the control plane: pass --api-key KEY (a gateway key), set EDGEFLEET_API_KEY or write it to ${file}`,
    );
  }
  return fromFile;
}
