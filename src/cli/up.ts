import { once } from 'node:events';
import { hostname } from 'node:os';
import { rootCertificates } from 'node:tls';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { defaultThreads, engineDefaults } from '../engines/embedded/engine-options.js';
import { readServerTls, readTrustedCas, type ServerTls } from '../http/tls-options.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { openStore } from '../store/open-store.js';
import { createLogger } from '../telemetry/logger.js';
import { WorkerAgent } from '../worker/agent/worker-agent.js';
import { resolveHome } from '../worker/models/model-cache.js';
import { resolveModel, type ResolvedModel } from '../worker/resolve-model.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { intFlag, parseFlags, portFlag } from './parse-flags.js';
import { downloadInterrupted, progressView } from './progress-view.js';
import {
  redisOption,
  routingFlagsHelp,
  journalSyncOption,
  routingOption,
  corsOption,
} from './gateway-options.js';
import { printCreatedSecrets } from './server.js';
import { ensureUpDeployment } from './up-deployment.js';
import { mintLocalJoinToken, upHealth, upMetrics, withUpModelMeta } from './up-local.js';
import { prefillChunkFlag, prefillChunkHelp } from './prefill-chunk-flag.js';

const help = `usage: edgefleet up [options]

Starts EdgeFleet on this machine in one command: the control plane with its OpenAI-compatible gateway,
and a local worker that runs the model in an embedded llama.cpp engine (supervised, restarted if it
dies). State lives in SQLite in --home; more workers may join it (edgefleet worker --token …).
  --model M        a GGUF file, hf:user/repo/file.gguf, an https URL, or a model id such as
                   deepseek-r1-distill-qwen-7b[:Q8_0]. Default: DeepSeek-R1-Distill-Qwen-1.5B Q4_K_M
                   (from the cache, else downloaded; offline: a generated demo model, said plainly).
                   Ctrl-C during a download stops up (exit 130); running it again resumes the download
  --name ID        the id clients put in "model" (default: derived from the model)
  --host H         address to listen on (default 127.0.0.1)
  --port N         port (default 8080)
  --home DIR       data directory: database, keys, model cache (default $EDGEFLEET_HOME or ~/.edgefleet)
  --threads N      llama.cpp threads (default ${defaultThreads()} on this machine)
  --parallel N     parallel slots; concurrent requests are batched (default ${engineDefaults.parallel})
  --prefill-chunk N|auto
                   ${prefillChunkHelp.replaceAll('\n', '\n                   ')}
  --context N      context tokens per slot (default ${engineDefaults.contextSize}, or what the model was trained
                   for when that is less)
  --gpu auto|false compute backend (default auto: a GPU when present, else CPU; false: CPU only)
  --offline        never download (also: HF_HUB_OFFLINE=1)
  --require-key    /v1 needs an API key even on a loopback address (always on for other addresses)
  --tls-cert FILE  serve HTTPS with this PEM certificate (chain); needs --tls-key
  --tls-key FILE   the PEM private key of --tls-cert
  --tls-ca FILE    the CA that signed --tls-cert when it is a private one (the local worker checks the
                   server's certificate against it; a self-signed certificate needs none)
${routingFlagsHelp}  --max-body-bytes N    largest /v1 request body (default ${engineDefaults.maxBodyBytes}: the embedded engine's own limit,
                        so a larger value lets nothing more through)
  --upstream-wait-ms N  how long a /v1 request waits for the engine to be running (default 30000)

On 127.0.0.1 the OpenAI API (/v1) is open, like a local llama.cpp server; the management API (/api/v1)
always needs the admin key, shown on the first start and kept in <home>/admin-key.
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    model: { type: 'string' },
    name: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    home: { type: 'string' },
    threads: { type: 'string' },
    parallel: { type: 'string' },
    'prefill-chunk': { type: 'string' },
    context: { type: 'string' },
    gpu: { type: 'string' },
    offline: { type: 'boolean' },
    'max-body-bytes': { type: 'string' },
    'upstream-wait-ms': { type: 'string' },
    'require-key': { type: 'boolean' },
    redis: { type: 'string' },
    'routing-config': { type: 'string' },
    'cors-origins': { type: 'string' },
    'journal-sync': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-ca': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const log = createLogger('up');
  const home = resolveHome(values.home);
  const port = portFlag(values.port, 8080);
  const host = values.host ?? '127.0.0.1';
  const maxBodyBytes = intFlag(values['max-body-bytes'], 'max-body-bytes', engineDefaults.maxBodyBytes, 1024);
  const upstreamWaitMs = intFlag(values['upstream-wait-ms'], 'upstream-wait-ms', 30_000, 0);
  const offline = values.offline === true || ['1', 'true'].includes(process.env['HF_HUB_OFFLINE'] ?? '');
  const gpu = values.gpu ?? 'auto';
  if (!['auto', 'false'].includes(gpu)) {
    throw new EdgeFleetError('invalid_argument', `--gpu must be auto or false, not "${gpu}"`);
  }
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
  const threads = intFlag(values.threads, 'threads', defaultThreads());
  const parallel = intFlag(values.parallel, 'parallel', engineDefaults.parallel);
  const prefillChunk = prefillChunkFlag(values['prefill-chunk']);
  const contextFlag = values.context === undefined ? undefined : intFlag(values.context, 'context', 0, 16);
  const routing = await routingOption(values['routing-config']);
  const journalSync = journalSyncOption(values['journal-sync']);
  const cors = corsOption(values['cors-origins']);
  const keyless = loopback && values['require-key'] !== true;
  if (keyless && cors.cors === '*') {
    // The user's choice, but an easy one to make by accident: said once, where they are looking.
    process.stderr.write(
      'edgefleet up: --cors-origins * without --require-key lets every web page open in your browser use ' +
        "this model; list your app's origin instead (or add --require-key)\n",
    );
  }
  const tls = await readServerTls(values['tls-cert'], values['tls-key']);
  if (!tls && values['tls-ca'] !== undefined) {
    throw new EdgeFleetError('invalid_argument', '--tls-ca goes with --tls-cert and --tls-key');
  }
  const controlTls = tls && localWorkerTls(tls, await readTrustedCas(values['tls-ca']));

  const shutdown = new AbortController();
  const onSignal = () => shutdown.abort(new EdgeFleetError('internal_error', 'interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const progress = progressView('model', log);
  let model: ResolvedModel;
  try {
    model = await resolveModel({
      home,
      ...(values.model !== undefined && { model: values.model }),
      offline,
      log,
      onProgress: (update) => progress.update(update),
      signal: shutdown.signal,
    }).finally(() => progress.finish());
  } catch (error) {
    // Ctrl-C while the model downloads: stop here, start nothing; the partial download is kept for a resume.
    if (!shutdown.signal.aborted) throw error;
    process.stderr.write(downloadInterrupted('up'));
    return 130;
  }
  if (shutdown.signal.aborted) {
    process.stderr.write('edgefleet up: interrupted\n');
    return 130;
  }
  const modelId = values.name ?? model.modelId;
  // Without --context: the default, or what the model was trained for when that is less (the scheduler
  // would not place it with more).
  const trained = model.contextLength > 0 ? model.contextLength : Infinity;
  const contextTokens = contextFlag ?? Math.min(engineDefaults.contextSize, trained);

  const { mkdir } = await import('node:fs/promises');
  await mkdir(home, { recursive: true });
  const store = await openStore(`sqlite:${join(home, 'edgefleet.db')}`);
  let agent: WorkerAgent | undefined;
  let plane: ControlPlane | undefined;
  try {
    const { deployment } = await ensureUpDeployment(store, home, { name: modelId, modelRef: model.path });
    plane = await startControlPlane({
      store,
      home,
      host,
      port,
      log,
      reconcileMs: 500,
      nodeTimeoutMs: 15_000,
      contextTokens,
      maxBodyBytes,
      inferenceAuth: keyless ? 'none' : 'key',
      upstreamWaitMs,
      ...redisOption(values.redis),
      ...routing,
      ...journalSync,
      ...cors,
      health: () => upHealth(plane!.routes, () => agent, deployment, model),
      extraMetrics: () => upMetrics(plane!.routes, deployment.id),
      decorateRoutes: (routes) => withUpModelMeta(routes, deployment.id, model),
      ...(tls && { tls }),
    });
    if (plane.created) printCreatedSecrets(home, plane.created);
    agent = new WorkerAgent({
      serverUrl: plane.url,
      joinToken: await mintLocalJoinToken(store),
      site: 'local',
      name: hostname(),
      home,
      advertiseHost: loopback ? host : '127.0.0.1',
      heartbeatMs: 500,
      threads,
      parallel,
      prefillChunk,
      ...(gpu === 'false' && { cpuOnly: true }),
      ...(controlTls && { controlTls }),
      log: log.child({ component: 'worker' }),
      // Its control plane stops with it (and stops listening first): there is nowhere to leave to.
      leaveOnClose: false,
    });
    // The local worker ends by itself only when it can never join (its node revoked from the dashboard):
    // then `up` stops too, with the reason.
    let workerFailure: unknown;
    const running = agent.run().catch((error: unknown) => {
      workerFailure = error;
      shutdown.abort(error);
    });
    log.info({ url: plane.url, model: modelId, path: model.path, demo: model.demo }, 'EdgeFleet listening');
    process.stdout.write(
      `EdgeFleet listening on ${plane.url}/v1 (model "${modelId}"${model.demo ? ', DEMO model' : ''})\n`,
    );
    if (model.demo && model.note) process.stdout.write(`note: ${model.note}\n`);

    if (!shutdown.signal.aborted) await once(shutdown.signal, 'abort');
    log.info('shutting down');
    // Answers in flight finish first (up to 10 s), while the engine that writes them still runs.
    await plane.drain(10_000);
    await agent.close();
    await running;
    if (workerFailure !== undefined) throw workerFailure;
  } finally {
    await agent?.close();
    try {
      await plane?.close();
    } finally {
      await store.close();
    }
  }
  return 0;
}

/**
 * How the local worker trusts its own HTTPS server: the chain must verify (the system's CAs, `--tls-ca`,
 * or the certificate itself when self-signed), and the certificate must be the very one served, whatever
 * names it carries (the worker connects to a loopback address the certificate need not name).
 */
function localWorkerTls(tls: ServerTls, ca: string[] | undefined) {
  const own = new X509Certificate(tls.cert);
  return {
    ca: ca ?? [...rootCertificates, tls.cert.toString('utf8')],
    serverFingerprint256: own.fingerprint256,
  };
}
