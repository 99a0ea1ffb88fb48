import { hostname } from 'node:os';
import { defaultThreads, engineDefaults } from '../engines/embedded/engine-options.js';
import { readTrustedCas } from '../http/tls-options.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { createLogger } from '../telemetry/logger.js';
import { defaultKeepInstanceDirs } from '../worker/agent/retired-instance-dirs.js';
import { WorkerAgent } from '../worker/agent/worker-agent.js';
import { resolveHome } from '../worker/models/model-cache.js';
import { parseEngineBins } from '../worker/process-engine/engine-executables.js';
import { DEFAULT_START_TIMEOUT_MS } from '../worker/process-engine/process-engine-options.js';
import { intFlag, parseFlags, serverUrlFlag } from './parse-flags.js';
import { prefillChunkFlag, prefillChunkHelp } from './prefill-chunk-flag.js';

const help = `usage: edgefleet worker --server URL --token JOIN_TOKEN --site SITE [options]

Runs the worker agent on this node: detects accelerators, registers with the control plane (the join
token is exchanged for a node credential kept in <home>/worker.json, mode 0600, so restarts need no new
token), heartbeats, and runs the instances the control plane assigns: llama.cpp as the embedded engine
(edgefleet engine), llama-server, vLLM, SGLang, MindIE and vLLM-Ascend as supervised external processes.
  --server URL          control plane URL, e.g. http://10.0.0.1:8080 or https://cp.example:8080 (required)
  --tls-ca FILE         PEM CA certificate(s) to trust, besides the system's, for an https --server
  --token T             worker join token (required on the first start; single use)
  --site SITE           site (machine room) this node is in (required)
  --region R            region of the site
  --name N              node name, unique in its site (default: host name)
  --home DIR            data directory (default $EDGEFLEET_HOME or ~/.edgefleet): worker.json, models/
  --advertise-host H    address the gateway reaches this node's engines at; engines bind to it (default 127.0.0.1)
  --heartbeat-ms N      heartbeat interval (default 2000)
  --threads N           llama.cpp threads per engine (default ${defaultThreads()} on this machine)
  --parallel N          parallel slots per engine (default ${engineDefaults.parallel})
  --prefill-chunk N|auto
                        embedded engines: ${prefillChunkHelp.replaceAll('\n', '\n                        ')}
  --engine-bin E=PATH   executable of engine E, repeatable: llama-server=PATH, vllm=PATH (the vllm launcher),
                        sglang=PATH (the python that has sglang), mindie=PATH (mindieservice_daemon),
                        vllm-ascend=PATH. Default: the engine's command on PATH (llama-server also
                        .cache/llama.cpp/bin/llama-server of this package; mindie its install path)
  --engine-start-timeout-s N  longest wait for an external engine to become ready (default ${DEFAULT_START_TIMEOUT_MS / 1000})
  --keep-instance-dirs N      directories of instances this node no longer runs to keep in <home>/instances, for
                        their engine logs; older ones are removed (default ${defaultKeepInstanceDirs})
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    server: { type: 'string' },
    token: { type: 'string' },
    site: { type: 'string' },
    region: { type: 'string' },
    name: { type: 'string' },
    home: { type: 'string' },
    'advertise-host': { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    threads: { type: 'string' },
    parallel: { type: 'string' },
    'prefill-chunk': { type: 'string' },
    'engine-bin': { type: 'string', multiple: true },
    'engine-start-timeout-s': { type: 'string' },
    'tls-ca': { type: 'string' },
    'keep-instance-dirs': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (!values.server) throw new EdgeFleetError('invalid_argument', `--server is required\n\n${help}`);
  if (!values.site) throw new EdgeFleetError('invalid_argument', `--site is required\n\n${help}`);
  serverUrlFlag(values.server); // checked only: worker.json keys the node's credential by the URL as given
  const tlsCa = await readTrustedCas(values['tls-ca']);
  const log = createLogger('worker');
  const agent = new WorkerAgent({
    serverUrl: values.server,
    joinToken: values.token,
    site: values.site,
    ...(values.region !== undefined && { region: values.region }),
    name: values.name ?? hostname(),
    home: resolveHome(values.home),
    advertiseHost: values['advertise-host'] ?? '127.0.0.1',
    heartbeatMs: intFlag(values['heartbeat-ms'], 'heartbeat-ms', 2000, 50),
    threads: intFlag(values.threads, 'threads', defaultThreads()),
    parallel: intFlag(values.parallel, 'parallel', engineDefaults.parallel),
    prefillChunk: prefillChunkFlag(values['prefill-chunk']),
    engineBins: parseEngineBins(values['engine-bin'] ?? []),
    engineStartTimeoutMs:
      intFlag(values['engine-start-timeout-s'], 'engine-start-timeout-s', DEFAULT_START_TIMEOUT_MS / 1000) *
      1000,
    ...(tlsCa && { controlTls: { ca: tlsCa } }),
    keepInstanceDirs: intFlag(values['keep-instance-dirs'], 'keep-instance-dirs', defaultKeepInstanceDirs, 0),
    log,
  });
  // The first SIGINT or SIGTERM makes the node leave (the control plane routes around it and places its
  // instances elsewhere) and stops the engines gracefully (they finish the answers in flight; SIGKILL
  // after 35 s for the embedded engine, 10 s after SIGTERM for the others); a second one
  // while that runs kills them at once and exits, since engines in process groups of their own would
  // outlive a worker that simply died.
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      log.info({ signal }, 'shutting down: stopping engines (again to kill them at once)');
      void agent.close();
      return;
    }
    log.warn({ signal }, 'killing engines and exiting now');
    agent.killEngines();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.write(
    `EdgeFleet worker ${values.name ?? hostname()} (site ${values.site}) → ${values.server}\n`,
  );
  try {
    await agent.run();
  } finally {
    await agent.close();
  }
  return 0;
}
