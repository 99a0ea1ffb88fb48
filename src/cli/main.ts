/**
 * The `edgefleet` command: one file per command under src/cli, loaded lazily so that `edgefleet pull`
 * never pays for loading llama.cpp.
 */
type CommandModule = { run(args: string[]): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  up: {
    summary: 'start EdgeFleet on this machine (engine + OpenAI-compatible API)',
    load: () => import('./up.js'),
  },
  pull: {
    summary: 'download a model (hf:user/repo/file.gguf or https URL) into the cache',
    load: () => import('./pull.js'),
  },
  server: {
    summary: 'run the control plane (management API, worker protocol, scheduler)',
    load: () => import('./server.js'),
  },
  worker: { summary: 'run the worker agent on a node (joins a server)', load: () => import('./worker.js') },
  gateway: {
    summary: 'run a gateway for one site that keeps serving while the server is unreachable',
    load: () => import('./gateway.js'),
  },
  models: { summary: 'list the models in the cache', load: () => import('./models.js') },
  nodes: { summary: 'list the worker nodes of a server', load: () => import('./nodes.js') },
  deploy: { summary: 'deploy a model (catalog id, GGUF path, URL, hf:)', load: () => import('./deploy.js') },
  deployments: { summary: 'list the deployments of a server', load: () => import('./deployments.js') },
  instances: { summary: 'list the model instances and their state', load: () => import('./instances.js') },
  scale: {
    summary: 'change the replicas (and scale-to-zero settings) of a deployment',
    load: () => import('./scale.js'),
  },
  redeploy: {
    summary: 'change what a deployment runs (model, quant, engine, context, sites), instance by instance',
    load: () => import('./redeploy.js'),
  },
  undeploy: { summary: 'delete a deployment and its instances', load: () => import('./undeploy.js') },
  keys: {
    summary: 'create, list, update and revoke API keys (models, rate limits, budgets)',
    load: () => import('./keys.js'),
  },
  usage: {
    summary: 'requests, errors and tokens per key, model, site and time',
    load: () => import('./usage.js'),
  },
  endpoints: {
    summary: 'add, list and remove external OpenAI-compatible servers to route to',
    load: () => import('./endpoints.js'),
  },
  engine: { summary: '(internal) run one embedded engine process', load: () => import('./engine.js') },
  estimate: { summary: 'will a model fit; memory, speed and cost', load: () => import('./estimate.js') },
  recommend: { summary: 'what to run on these devices, ranked', load: () => import('./recommend.js') },
  plan: { summary: 'plan a fleet across sites (MILP)', load: () => import('./plan.js') },
  bench: {
    summary: 'benchmark an OpenAI-compatible endpoint (TTFT, TPOT, throughput, goodput)',
    load: () => import('./bench.js'),
  },
  calibrate: { summary: 'store bench-measured speed for estimate', load: () => import('./calibrate.js') },
  dev: {
    summary: 'developer tools: `dev make-model` writes a generated GGUF model',
    load: () => import('./dev.js'),
  },
};

export function usage(): string {
  const lines = Object.entries(commands)
    .filter(([name]) => name !== 'engine')
    .map(([name, { summary }]) => `  ${name.padEnd(11)} ${summary}`);
  return `usage: edgefleet <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun \`edgefleet <command> --help\` for a command's options.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`edgefleet: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const module = await command.load();
  try {
    // `edgefleet server -h` as `edgefleet server --help`, for every command.
    return await module.run(rest.length === 1 && rest[0] === '-h' ? ['--help'] : rest);
  } catch (error) {
    // What a command did not report itself, named after it: usage errors (exit 2, with where to find the
    // options unless the message already carries them) and failures (exit 1).
    const message = listenFailure(error) ?? (error instanceof Error ? error.message : String(error));
    const isUsage = (error as { code?: unknown } | null)?.code === 'invalid_argument';
    const hint =
      isUsage && !message.includes('usage: ') ? `Run \`edgefleet ${name} --help\` for its options.\n` : '';
    process.stderr.write(`edgefleet ${name}: ${message}\n${hint}`);
    return isUsage ? 2 : 1;
  }
}

/**
 * A server's port that could not be taken, said as what to do (Node says `listen EADDRINUSE: address
 * already in use 127.0.0.1:8080`); undefined for any other error.
 */
function listenFailure(error: unknown): string | undefined {
  const { code, address, port } = (error ?? {}) as { code?: unknown; address?: unknown; port?: unknown };
  if (code !== 'EADDRINUSE' && code !== 'EACCES') return undefined;
  if (typeof port !== 'number') return undefined;
  const where =
    typeof address === 'string'
      ? `${address.includes(':') ? `[${address}]` : address}:${port}`
      : `port ${port}`;
  return code === 'EADDRINUSE'
    ? `cannot listen on ${where}: another process is listening there; stop it or choose another --port`
    : `cannot listen on ${where}: permission denied (ports below 1024 need privileges); choose another --port`;
}
