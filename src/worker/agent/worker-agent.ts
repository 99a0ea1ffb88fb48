import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { DesiredInstance, RegisterRequest } from '../../spec/worker-protocol.js';
import type { Logger } from '../../telemetry/logger.js';
import { detectAccelerators } from '../accelerators/detect-accelerators.js';
import { ControlClient, ControlRequestError } from './control-client.js';
import type { EngineBins } from '../process-engine/engine-executables.js';
import { killStaleEngine } from '../process-engine/stale-engine.js';
import type { DrainOptions } from '../process-engine/engine-drain.js';
import { engineDrainMs } from '../../engines/embedded/engine-options.js';
import type { NodeDevice } from './engine-launch-spec.js';
import { InstanceRunner } from './instance-runner.js';
import { NodeLeave } from './node-leave.js';
import { defaultKeepInstanceDirs, pruneRetiredInstanceDirs } from './retired-instance-dirs.js';
import { loadWorkerIdentity, saveWorkerIdentity, type WorkerIdentity } from './worker-state-file.js';

export interface WorkerAgentOptions {
  serverUrl: string;
  /** Single-use join token; only needed when `<home>/worker.json` holds no credential for this server. */
  joinToken: string | undefined;
  site: string;
  region?: string;
  name: string;
  home: string;
  /** Host the control plane and gateway reach this node's engines at; engines bind to it. */
  advertiseHost: string;
  heartbeatMs: number;
  threads: number;
  parallel: number;
  /** Embedded engines' `--prefill-chunk` (undefined: the engine's default, auto). */
  prefillChunk?: number | 'auto';
  log: Logger;
  /**
   * Longest wait between heartbeats while the control plane is unreachable (default 5 s, or the heartbeat
   * interval if longer): well inside the server's node timeout (15 s by default), so a control plane that
   * comes back hears from every worker before it could take a healthy node for down.
   */
  maxBackoffMs?: number;
  /** Report no accelerators, so every instance runs on the CPU (`edgefleet up --gpu false`). */
  cpuOnly?: boolean;
  /** Executables of external engines (`--engine-bin ENGINE=PATH`). */
  engineBins?: EngineBins;
  /** Longest wait for an external engine to become ready after a start. */
  engineStartTimeoutMs?: number;
  /** What an https control plane's certificate is checked against (`--tls-ca`); default: the system's CAs. */
  controlTls?: { ca?: string[]; serverFingerprint256?: string };
  /**
   * How many directories of instances this node no longer runs to keep under `<home>/instances`, the
   * most recently active first, for their engine logs (default 8; `--keep-instance-dirs`).
   */
  keepInstanceDirs?: number;
  /**
   * Whether `close()` tells the control plane this node leaves (node-leave.ts; default true). `edgefleet
   * up` does not: its one node's control plane stops with it.
   */
  leaveOnClose?: boolean;
}

/** The control plane refused this node for good (a refused join token, a revoked node): the worker stops. */
class CannotJoin extends EdgeFleetError {
  constructor(message: string) {
    super('unauthorized', message);
  }
}

/** Every this many heartbeats, each instance's log tail is sent even when unchanged. */
const fullLogEveryBeats = 12;

/**
 * The drain of a process engine the control plane removed: gateways may route to it for up to about a
 * second after (the server's route table is at most 0.5 s old, room gateways poll every second), and it
 * finishes the answers in flight for up to as long as the embedded engine does on SIGTERM.
 */
const retireDrain: DrainOptions = { routeDelayMs: 2000, timeoutMs: engineDrainMs };

/**
 * The worker agent: registers the node (or re-uses its saved credential), heartbeats its instances'
 * states, and starts and stops instances to match what the control plane answers. Keeps its instances
 * running while the control plane is unreachable and re-syncs when it comes back.
 */
export class WorkerAgent {
  private readonly client: ControlClient;
  private readonly runners = new Map<string, InstanceRunner>();
  /** Every runner whose stop has not finished, desired or not: what `killEngines` reaches. */
  private readonly unstopped = new Set<InstanceRunner>();
  /** Runners no longer desired, until their engine has stopped (it drains its answers first). */
  private readonly draining = new Map<InstanceRunner, Promise<void>>();
  private identity: WorkerIdentity | null = null;
  private tokenUsed = false;
  private rejectedCredential: string | undefined;
  private cpuIndex = 0;
  private devices: NodeDevice[] = [];
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The last heartbeat request sent, which a leaving close() waits for. */
  private heartbeatSent: Promise<unknown> | undefined;
  /** How the node leaves when the worker closes (null: `leaveOnClose` false). */
  private readonly leave: NodeLeave | null;
  private wake: (() => void) | undefined;
  /** Log-tail version each instance last sent in an answered heartbeat. */
  private readonly sentLogVersions = new Map<string, number>();
  private beats = 0;
  /** Whether the retired instance directories were pruned since the last sync that stopped an instance. */
  private pruned = false;

  constructor(private readonly options: WorkerAgentOptions) {
    this.client = new ControlClient(options.serverUrl, undefined, options.controlTls);
    this.leave =
      options.leaveOnClose === false
        ? null
        : new NodeLeave(options.serverUrl, options.controlTls, options.log);
  }

  /**
   * Runs until `close()` is called. Throws (an EdgeFleetError) when this node can never join: no
   * credential and no join token (`invalid_argument`), or the control plane refused the join token or
   * the credential and no unused token is left (`unauthorized`); the caller then closes the agent.
   */
  async run(): Promise<void> {
    const { log, heartbeatMs, home, serverUrl } = this.options;
    if (this.options.joinToken === undefined && !(await loadWorkerIdentity(home, serverUrl)))
      throw new EdgeFleetError(
        'invalid_argument',
        `no node credential for ${serverUrl} in ${home}/worker.json: pass a join token (--token; ` +
          '`edgefleet server token` on the control plane makes one)',
      );
    await this.stopLeftoverEngines();
    const maxBackoffMs = this.options.maxBackoffMs ?? Math.max(heartbeatMs, 5_000);
    const registration = await this.describeNode();
    let delayMs = heartbeatMs;
    let failures = 0;
    while (!this.closed) {
      try {
        await this.beat(registration);
        if (failures > 0) log.info({ failures }, 'control plane reachable again; re-synced');
        failures = 0;
        delayMs = heartbeatMs;
      } catch (error) {
        if (error instanceof CannotJoin) throw error;
        failures += 1;
        delayMs = Math.min(maxBackoffMs, heartbeatMs * 2 ** Math.min(failures - 1, 10));
        const reason = error instanceof Error ? error.message : String(error);
        // Before the node has joined there is no heartbeat yet and no instance to keep running.
        const what =
          this.identity === null ? 'cannot join yet; retrying' : 'heartbeat failed; instances keep running';
        log.warn({ failures, retryInMs: delayMs, reason }, what);
      }
      await this.sleep(delayMs);
    }
  }

  /** The engine state of this node's instance of a deployment (the first one), if it runs one. */
  engineStatus(deploymentId: string): ReturnType<InstanceRunner['engineStatus']> {
    const runner = [...this.runners.values()].find((r) => r.deploymentId === deploymentId);
    return runner?.engineStatus();
  }

  /**
   * Stops the loop and every engine. The node leaves first (a last heartbeat, `leaving`): the control
   * plane marks it down at once, so gateways stop sending to its engines and its instances are placed
   * elsewhere; then its process engines drain as a removed instance's do, and a last leaving heartbeat
   * says none is left. When the control plane cannot be told, the engines are stopped at once (it marks
   * the node down after its heartbeat timeout).
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.wake?.();
      const credential = () => this.identity?.credential ?? null;
      const ids = [...this.unstopped].map((r) => r.id);
      const left = this.leave !== null && (await this.leave.announce(credential, ids, this.heartbeatSent));
      this.runners.clear();
      await Promise.all([...this.unstopped].map((r) => this.stopRunner(r, left ? retireDrain : undefined)));
      if (left) await this.leave?.stopped(credential);
      this.leave?.close();
      this.client.close();
    })();
    return this.closing;
  }

  /**
   * SIGKILLs every process engine at once, synchronously: for a worker that must exit now (a second
   * Ctrl-C during `close()`), since engines run in process groups of their own and would outlive it.
   */
  killEngines(): void {
    for (const runner of this.unstopped) runner.killNow();
  }

  private async stopRunner(runner: InstanceRunner, drain?: DrainOptions): Promise<void> {
    await runner.stop(drain);
    this.unstopped.delete(runner);
  }

  /**
   * Engines an earlier run of this worker left running (it was SIGKILLed, or lost power to its own
   * process only): each instance directory's `engine.pid` names one. Restarting the same instance would
   * stop it too, but an instance the control plane has since placed again under a new id would leave
   * it running beside the new one, holding its memory, so every one is stopped before the first sync.
   */
  private async stopLeftoverEngines(): Promise<void> {
    const dir = join(this.options.home, 'instances');
    const ids = await readdir(dir).catch(() => [] as string[]);
    for (const id of ids) {
      if (await killStaleEngine(join(dir, id)))
        this.options.log.warn({ instanceId: id }, 'stopped an engine left running by an earlier worker run');
    }
  }

  private async describeNode(): Promise<Omit<RegisterRequest, 'joinToken'>> {
    const { log } = this.options;
    const detected = await detectAccelerators({ log });
    const detection = this.options.cpuOnly ? { ...detected, devices: [] } : detected;
    this.cpuIndex = detection.devices.reduce((max, d) => Math.max(max, d.index), -1) + 1;
    this.devices = detection.devices.map((d) => ({ index: d.index, vendor: d.vendor, kind: d.kind }));
    log.info(
      { devices: detection.devices.map((d) => d.name), cpu: detection.cpu.model },
      'accelerators detected',
    );
    return {
      name: this.options.name,
      site: this.options.site,
      ...(this.options.region !== undefined && { region: this.options.region }),
      address: this.options.advertiseHost,
      devices: detection.devices.map((d) => ({
        index: d.index,
        vendor: d.vendor,
        kind: d.kind,
        name: d.name,
        memoryBytes: d.memoryBytes,
        hardwareId: d.hardwareId ?? null,
      })),
      cpu: { cores: detection.cpu.cores, memoryBytes: detection.cpu.memoryBytes, model: detection.cpu.model },
    };
  }

  private async ensureIdentity(registration: Omit<RegisterRequest, 'joinToken'>): Promise<WorkerIdentity> {
    const { home, serverUrl, joinToken, log } = this.options;
    if (!this.identity) {
      const saved = await loadWorkerIdentity(home, serverUrl);
      if (saved && saved.credential !== this.rejectedCredential) this.identity = saved;
    }
    if (this.identity) return this.identity;
    if (joinToken === undefined || this.tokenUsed) {
      throw new CannotJoin(
        `the control plane rejected this node's credential (the node was revoked, or the control plane's ` +
          `store is not the one it joined) and there is no unused join token: stopping. Start the worker ` +
          'with a new join token (`edgefleet server token`)',
      );
    }
    let answer;
    try {
      answer = await this.client.register({ ...registration, joinToken });
    } catch (error) {
      // Refused (unknown, used or expired token; a request the server will never take): only a new token
      // helps. Unreachable or 5xx: the token was not consumed, so the next beat tries it again.
      if (error instanceof ControlRequestError && [400, 401, 403].includes(error.status ?? 0)) {
        this.tokenUsed = true;
        throw new CannotJoin(
          `the control plane refused to register this node: ${error.message}. ` +
            'Start the worker with a new join token (`edgefleet server token`)',
        );
      }
      throw error;
    }
    this.tokenUsed = true;
    this.identity = { serverUrl, nodeId: answer.nodeId, credential: answer.credential };
    await saveWorkerIdentity(home, this.identity);
    log.info({ nodeId: answer.nodeId, siteId: answer.siteId }, 'registered with the control plane');
    return this.identity;
  }

  private async beat(registration: Omit<RegisterRequest, 'joinToken'>): Promise<void> {
    const identity = await this.ensureIdentity(registration);
    // Log tails go along when they changed since the last answered heartbeat, and all of them every
    // `fullLogEveryBeats` beats (a restarted control plane keeps them only in memory).
    const full = this.beats % fullLogEveryBeats === 0;
    this.beats += 1;
    const runners = [...this.runners.values()];
    const versions = new Map(runners.map((r) => [r.id, r.logTail.version]));
    const reports = runners.map((r) =>
      r.report(r.logTail.version > 0 && (full || this.sentLogVersions.get(r.id) !== r.logTail.version)),
    );
    // Engines of removed instances still finishing their answers: the control plane counts them (a
    // drained node runs none) and ignores the ids it no longer has.
    for (const runner of this.draining.keys()) {
      if (!this.runners.has(runner.id)) reports.push({ id: runner.id, state: 'stopping' });
    }
    let desired: DesiredInstance[];
    try {
      const sent = this.client.heartbeat(identity.credential, { instances: reports });
      this.heartbeatSent = sent;
      desired = await sent;
      this.sentLogVersions.clear();
      for (const [id, version] of versions) this.sentLogVersions.set(id, version);
    } catch (error) {
      this.beats = 0; // after a failure, the next answered heartbeat carries every tail
      if (error instanceof ControlRequestError && error.status === 401) {
        // The credential was revoked or replaced: forget it; the next beat registers with the token if unused.
        this.rejectedCredential = identity.credential;
        this.identity = null;
        this.options.log.error('node credential rejected by the control plane');
      }
      throw error;
    }
    if (!this.closed) await this.sync(desired);
  }

  /**
   * Starts desired instances that are not running here and stops those no longer desired. A new
   * instance on the devices of one still stopping (placed in its memory) starts its engine after it.
   */
  private async sync(desired: DesiredInstance[]): Promise<void> {
    const wanted = new Set(desired.map((d) => d.id));
    const devicesFree = (deviceIndexes: readonly number[]) => {
      const before = [...this.draining].filter(([r]) => r.usesAnyOf(deviceIndexes)).map(([, done]) => done);
      return before.length === 0 ? {} : { devicesFree: Promise.all(before) };
    };
    const stale = [...this.runners.values()].filter((r) => !wanted.has(r.id));
    for (const runner of stale) {
      this.runners.delete(runner.id);
      this.options.log.info({ instanceId: runner.id }, 'instance no longer desired; stopping');
      // In the background: its engine may take its grace period to finish the answers in flight, and
      // heartbeats go on meanwhile. Its directory is pruned (if at all) after it stopped.
      const stopped = this.stopRunner(runner, retireDrain)
        .catch((error: unknown) =>
          this.options.log.warn({ err: error, instanceId: runner.id }, 'stop failed'),
        )
        .finally(() => {
          this.draining.delete(runner);
          this.pruned = false;
        });
      this.draining.set(runner, stopped);
    }
    for (const instance of desired) {
      if (this.runners.has(instance.id)) continue;
      const runner = new InstanceRunner({
        instance,
        home: this.options.home,
        bindHost: this.options.advertiseHost,
        threads: this.options.threads,
        parallel: this.options.parallel,
        ...(this.options.prefillChunk !== undefined && { prefillChunk: this.options.prefillChunk }),
        cpuOnly: instance.deviceIndexes.every((i) => i === this.cpuIndex),
        devices: this.devices,
        ...(this.options.engineBins && { engineBins: this.options.engineBins }),
        ...(this.options.engineStartTimeoutMs !== undefined && {
          startTimeoutMs: this.options.engineStartTimeoutMs,
        }),
        ...devicesFree(instance.deviceIndexes),
        log: this.options.log.child({ instanceId: instance.id, model: instance.servedName }),
      });
      this.runners.set(instance.id, runner);
      this.unstopped.add(runner);
      this.options.log.info({ instanceId: instance.id, engine: instance.engine }, 'starting instance');
      runner.start();
    }
    // After the first answered heartbeat (what an earlier run left) and after each stop.
    if (!this.pruned && !this.closed) {
      this.pruned = true;
      await this.pruneInstanceDirs();
    }
  }

  private async pruneInstanceDirs(): Promise<void> {
    const keep = this.options.keepInstanceDirs ?? defaultKeepInstanceDirs;
    try {
      const live = new Set([...this.runners.keys(), ...[...this.draining.keys()].map((r) => r.id)]);
      const removed = await pruneRetiredInstanceDirs(this.options.home, live, keep);
      if (removed.length > 0)
        this.options.log.info(
          { removed, kept: keep },
          'removed the directories of instances retired earlier',
        );
    } catch (error) {
      this.options.log.warn({ err: error }, 'cannot remove the directories of retired instances');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      // close() may have come while a heartbeat was in flight, when there was nothing to wake.
      if (this.closed) return resolve();
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
