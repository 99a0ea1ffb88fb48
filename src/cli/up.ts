import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { defaultThreads, engineDefaults } from '../engines/embedded/engine-options.js';
import { LocalGateway, type UpstreamSource } from '../gateway/local-gateway.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { createLogger } from '../telemetry/logger.js';
import { EngineSupervisor } from '../worker/engine-supervisor.js';
import { resolveHome } from '../worker/models/model-cache.js';
import { resolveModel } from '../worker/resolve-model.js';
import { intFlag, parseFlags } from './parse-flags.js';
import { progressView } from './progress-view.js';

const help = `usage: edgefleet up [options]

Starts EdgeFleet on this machine: an embedded llama.cpp engine (supervised, restarted if it dies) behind an
OpenAI-compatible API.
  --model M        a GGUF file, hf:user/repo/file.gguf, an https URL, or a model id such as
                   deepseek-r1-distill-qwen-7b[:Q8_0]. Default: DeepSeek-R1-Distill-Qwen-1.5B Q4_K_M
                   (from the cache, else downloaded; offline: a generated demo model, said plainly)
  --name ID        the id clients put in "model" (default: derived from the model)
  --host H         address to listen on (default 127.0.0.1)
  --port N         port (default 8080)
  --home DIR       data directory with the model cache (default $EDGEFLEET_HOME or ~/.edgefleet)
  --threads N      llama.cpp threads (default ${defaultThreads()} on this machine)
  --parallel N     parallel slots; concurrent requests are batched (default ${engineDefaults.parallel})
  --context N      context tokens per slot (default ${engineDefaults.contextSize})
  --gpu auto|cuda|vulkan|metal|false   compute backend (default auto: a GPU when present, else CPU)
  --offline        never download (also: HF_HUB_OFFLINE=1)
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
    context: { type: 'string' },
    gpu: { type: 'string' },
    offline: { type: 'boolean' },
    'max-body-bytes': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const log = createLogger('up');
  const home = resolveHome(values.home);
  const port = intFlag(values.port, 'port', 8080, 0);
  const host = values.host ?? '127.0.0.1';
  const maxBodyBytes = intFlag(values['max-body-bytes'], 'max-body-bytes', engineDefaults.maxBodyBytes, 1024);
  const offline = values.offline === true || ['1', 'true'].includes(process.env['HF_HUB_OFFLINE'] ?? '');

  const shutdown = new AbortController();
  const onSignal = () => shutdown.abort(new EdgeFleetError('internal_error', 'interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const progress = progressView('model', log);
  const model = await resolveModel({
    home,
    ...(values.model !== undefined && { model: values.model }),
    offline,
    log,
    onProgress: (update) => progress.update(update),
    signal: shutdown.signal,
  }).finally(() => progress.finish());
  const modelId = values.name ?? model.modelId;
  const meta = { source: model.source, demo: model.demo, ...(model.note && { note: model.note }) };
  const engineArgs = [
    ['--model', model.path],
    ['--model-id', modelId],
    ['--threads', String(intFlag(values.threads, 'threads', defaultThreads()))],
    ['--parallel', String(intFlag(values.parallel, 'parallel', engineDefaults.parallel))],
    ['--context', String(intFlag(values.context, 'context', engineDefaults.contextSize, 16))],
    ['--gpu', values.gpu ?? engineDefaults.gpu],
    ['--max-body-bytes', String(maxBodyBytes)],
    ['--meta', JSON.stringify(meta)],
  ].flat();

  const supervisor = new EngineSupervisor({ engineArgs, log: log.child({ component: 'supervisor' }) });
  const source: UpstreamSource = {
    current: () => (supervisor.state === 'ready' ? supervisor.url : undefined),
    waitForReady: async (timeoutMs) => {
      await supervisor.waitUntilReady(timeoutMs).catch(() => undefined);
      return supervisor.state === 'ready' ? supervisor.url : undefined;
    },
    status: () => ({ ...supervisor.status(), model: modelId, ...meta }),
  };
  const gateway = new LocalGateway({
    source,
    log: log.child({ component: 'gateway' }),
    maxBodyBytes,
    upstreamWaitMs: 30_000,
  });
  gateway.server.listen(port, host);
  await once(gateway.server, 'listening');
  const address = gateway.server.address() as AddressInfo;
  supervisor.start();

  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  log.info({ url, model: modelId, path: model.path, demo: model.demo }, 'EdgeFleet listening');
  process.stdout.write(
    `EdgeFleet listening on ${url}/v1 (model "${modelId}"${model.demo ? ', DEMO model' : ''})\n`,
  );
  if (model.demo && model.note) process.stdout.write(`note: ${model.note}\n`);

  if (!shutdown.signal.aborted) await once(shutdown.signal, 'abort');
  log.info('shutting down');
  gateway.server.close();
  gateway.server.closeAllConnections();
  await supervisor.stop();
  return 0;
}
