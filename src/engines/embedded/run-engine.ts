import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../telemetry/logger.js';
import { EngineServer } from './engine-server.js';
import { engineDrainMs, type EngineOptions } from './engine-options.js';
import { LISTENING_MARKER } from './listening-marker.js';
import { LlamaRuntime } from './llama-runtime.js';

/**
 * Runs one embedded engine in this process until SIGTERM/SIGINT (then it drains: EngineServer.drain) or
 * until its parent goes away.
 * The HTTP server comes up first (health says "loading"), then the model loads.
 */
export async function runEngine(options: EngineOptions, log: Logger): Promise<void> {
  const engine = new EngineServer(options, log);
  engine.server.listen(options.port, options.host);
  await once(engine.server, 'listening');
  const { port } = engine.server.address() as AddressInfo;
  process.stdout.write(`${LISTENING_MARKER} ${port}\n`);
  log.info({ host: options.host, port, modelId: options.modelId }, 'engine listening');

  let runtime: LlamaRuntime | undefined;
  let stopping = false;
  /**
   * Stops after the answers in flight finish (at most `graceMs`): 0 when the supervisor is gone, which
   * also ends a drain in progress (the worker died during it: no one would stop this process later).
   */
  const stop = async (reason: string, graceMs: number) => {
    if (stopping) {
      if (graceMs === 0) {
        log.info({ reason }, 'engine stopping now');
        process.exit(0);
      }
      return; // a repeated signal: the drain goes on
    }
    stopping = true;
    log.info({ reason, graceMs }, 'engine stopping');
    await engine.drain(graceMs);
    await runtime?.dispose().catch(() => undefined);
    process.exit(0);
  };
  // `on`, not `once`: a second signal (a shell's Ctrl-C twice, a service manager's signal to every
  // process of the unit besides the worker's) must not end the drain.
  process.on('SIGTERM', () => void stop('SIGTERM', engineDrainMs));
  process.on('SIGINT', () => void stop('SIGINT', engineDrainMs));
  // No one to stop it later, or to restart it: it ends now.
  process.once('disconnect', () => void stop('supervisor gone', 0));
  // A supervisor that died while this process started (before the listener above) left no one to hear
  // its 'disconnect': in its own process group, nothing else would stop this engine.
  if (process.send !== undefined && !process.connected) void stop('supervisor gone', 0);

  try {
    runtime = await LlamaRuntime.load(options, log);
    engine.setRuntime(runtime);
    log.info('engine ready');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error({ err: error }, 'model failed to load');
    engine.setError(message);
    // Exit so the supervisor sees the failure and its reason; /health said "error" meanwhile.
    setTimeout(() => process.exit(3), 200);
  }
}
