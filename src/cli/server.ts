import { once } from 'node:events';
import { join } from 'node:path';
import { startControlPlane } from './control-plane.js';
import {
  redisOption,
  routingFlagsHelp,
  journalSyncOption,
  routingOption,
  corsOption,
} from './gateway-options.js';
import { joinTokenTtlMs, rotateJoinToken, type BootstrapResult } from '../control/server/secrets.js';
import { readServerTls, type ServerTls } from '../http/tls-options.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { openStore } from '../store/open-store.js';
import { redact } from '../telemetry/redact-url.js';
import { createLogger } from '../telemetry/logger.js';
import { resolveHome } from '../worker/models/model-cache.js';
import { intFlag, parseFlags, portFlag } from './parse-flags.js';

const help = `usage: edgefleet server [options]
       edgefleet server token [--home DIR] [--database URL] [--ttl-s N]

Runs the EdgeFleet control plane and gateway on one port: the OpenAI-compatible API (/v1, any API key),
the management API (/api/v1, admin key), the worker protocol (/api/v1/worker), /health, /metrics and the
scheduler's reconcile loop.
  --home DIR            data directory (default $EDGEFLEET_HOME or ~/.edgefleet); holds admin-key and join-token
  --port N              port (default 8080)
  --host H              address to listen on (default 127.0.0.1)
  --database URL        sqlite:PATH or postgres://user@host:port/db (default sqlite:<home>/edgefleet.db)
  --reconcile-ms N      reconcile interval (default 2000)
  --node-timeout-ms N   a node without a heartbeat for this long is marked down (default 15000)
  --context N           context tokens per instance (default 4096)
  --max-body-bytes N    largest /v1 request body (default 8388608)
  --upstream-wait-ms N  how long a /v1 request waits for a running instance of its model (default 10000)
  --shutdown-timeout-ms N  on SIGTERM/SIGINT, how long to wait for work that needs the store before exiting 1
                        anyway (default 10000; keep it below your service manager's stop timeout)
  --tls-cert FILE       serve HTTPS with this PEM certificate (chain); needs --tls-key
  --tls-key FILE        the PEM private key of --tls-cert
${routingFlagsHelp}  --region R            the region clients are taken to be in when their key, header and address say nothing

The first start creates an admin API key and a worker join token, prints them once and writes them to
<home>/admin-key and <home>/join-token (mode 0600). \`edgefleet server token\` makes a new join token
(each join token registers one worker) valid for --ttl-s seconds (default ${joinTokenTtlMs / 1000}, 7 days).
Workers, room gateways and CLI commands that talk to an HTTPS server signed by a private CA trust it with
--tls-ca FILE (worker, gateway) or NODE_EXTRA_CA_CERTS=FILE (any command).
`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    {
      home: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      database: { type: 'string' },
      'reconcile-ms': { type: 'string' },
      'node-timeout-ms': { type: 'string' },
      context: { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'upstream-wait-ms': { type: 'string' },
      'shutdown-timeout-ms': { type: 'string' },
      redis: { type: 'string' },
      'routing-config': { type: 'string' },
      'cors-origins': { type: 'string' },
      'journal-sync': { type: 'string' },
      region: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'ttl-s': { type: 'string' },
      help: { type: 'boolean' },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const [sub, ...extra] = positionals;
  if ((sub !== undefined && sub !== 'token') || extra.length > 0) {
    throw new EdgeFleetError(
      'invalid_argument',
      `unexpected argument(s): ${positionals.join(' ')}\n\n${help}`,
    );
  }
  if (sub !== 'token' && values['ttl-s'] !== undefined) {
    throw new EdgeFleetError('invalid_argument', `--ttl-s goes with "edgefleet server token"\n\n${help}`);
  }
  const ttlS = intFlag(values['ttl-s'], 'ttl-s', joinTokenTtlMs / 1000, 1);
  // Read before the store is opened: a bad certificate is a usage error, not a half-started server.
  const tls = sub === 'token' ? undefined : await readServerTls(values['tls-cert'], values['tls-key']);
  const home = resolveHome(values.home);
  const database = values.database ?? `sqlite:${join(home, 'edgefleet.db')}`;
  const log = createLogger('server');
  if (database.startsWith('sqlite:')) {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(home, { recursive: true });
  }
  const store = await openStore(database);
  try {
    if (sub === 'token') {
      const token = await rotateJoinToken(store, home, Date.now(), ttlS * 1000);
      process.stdout.write(`${token}\n`);
      return 0;
    }
    return await serve(values, home, database, store, log, tls);
  } finally {
    await store.close();
  }
}

async function serve(
  values: Record<string, string | boolean | undefined>,
  home: string,
  database: string,
  store: Awaited<ReturnType<typeof openStore>>,
  log: ReturnType<typeof createLogger>,
  tls: ServerTls | undefined,
): Promise<number> {
  const str = (name: string) => (typeof values[name] === 'string' ? values[name] : undefined);
  const shutdown = new AbortController();
  const onSignal = () => shutdown.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const plane = await startControlPlane({
    store,
    home,
    log,
    host: str('host') ?? '127.0.0.1',
    port: portFlag(str('port'), 8080),
    reconcileMs: intFlag(str('reconcile-ms'), 'reconcile-ms', 2000, 10),
    nodeTimeoutMs: intFlag(str('node-timeout-ms'), 'node-timeout-ms', 15_000, 100),
    contextTokens: intFlag(str('context'), 'context', 4096, 16),
    maxBodyBytes: intFlag(str('max-body-bytes'), 'max-body-bytes', 8 * 1024 * 1024, 1024),
    inferenceAuth: 'key',
    upstreamWaitMs: intFlag(str('upstream-wait-ms'), 'upstream-wait-ms', 10_000, 0),
    shutdownMs: intFlag(str('shutdown-timeout-ms'), 'shutdown-timeout-ms', 10_000, 100),
    ...redisOption(str('redis')),
    ...(await routingOption(str('routing-config'))),
    ...journalSyncOption(str('journal-sync')),
    ...corsOption(str('cors-origins')),
    ...(str('region') !== undefined && { region: str('region')! }),
    ...(tls && { tls }),
  });
  if (plane.created) printCreatedSecrets(home, plane.created);
  log.info({ url: plane.url, database: redact(database), home }, 'control plane listening');
  process.stdout.write(`EdgeFleet control plane listening on ${plane.url} (OpenAI API: ${plane.url}/v1)\n`);
  if (!shutdown.signal.aborted) await once(shutdown.signal, 'abort');
  log.info('shutting down');
  // Answers in flight through the gateway finish first (up to 10 s), as a room's gateway lets them.
  await plane.drain(10_000);
  await plane.close();
  return 0;
}

/** First start: the admin key and join token, shown once (they are also in files readable by the owner). */
export function printCreatedSecrets(home: string, created: NonNullable<BootstrapResult['created']>): void {
  const adminKeyFile = join(home, 'admin-key');
  const joinTokenFile = join(home, 'join-token');
  process.stdout.write(
    created.adminKeyKept
      ? `First start of this database: the admin API key in ${adminKeyFile} (an earlier database's) is its admin key too\n` +
          `Created a worker join token (shown once; also in ${joinTokenFile}, mode 0600)\n` +
          `  worker join token:  ${created.joinToken}\n`
      : `First start: created credentials (shown once; also in ${adminKeyFile} and ${joinTokenFile}, mode 0600)\n` +
          `  admin API key:      ${created.adminKey}\n` +
          `  worker join token:  ${created.joinToken}\n`,
  );
}
