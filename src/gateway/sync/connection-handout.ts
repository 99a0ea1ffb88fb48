/**
 * How the primary of `edgefleet gateway --workers N` hands client connections to its workers. The primary
 * listens; each connection it accepts (paused: the primary reads nothing from it) goes over a worker's IPC
 * channel to the next worker in turn that has confirmed the connection it got before (as node:cluster's
 * round robin does, so a worker whose event loop is stuck holds one connection, not 1/N of them; after
 * `confirmWithinMs` without a word it may get one more). Once the socket is written to the channel the
 * primary closes its own copy: the kernel holds the connection until the worker takes it, and closes it
 * if the worker dies first or cannot take it (out of file descriptors), so its client sees the connection
 * close and can try again. A connection still waiting in the primary for a worker that dies goes to
 * another. node:cluster's own hand-out keeps its copy until the worker answers, which a dead worker never
 * does: the connection stays open, unread and unanswered (nodejs/node#21746), so the gateway does not use
 * it.
 */
import type { Worker } from 'node:cluster';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../../telemetry/logger.js';

/** Primary → worker: a client connection (the socket travels with the message). */
const connectionMessage = 'edgefleet:gateway-connection';
/** Worker → primary: it has the connection `id`. */
const takenMessage = 'edgefleet:gateway-connection-taken';
/** Worker → primary: it serves; connections may be handed to it. */
export const readyMessage = 'edgefleet:gateway-ready';
/** Worker → primary: it is shutting down; no more connections for it. */
const stoppingMessage = 'edgefleet:gateway-stopping';
/** How long a worker may take to confirm a connection before it may get another. */
const confirmWithinMs = 1000;
/** Connections that wait in the primary for a worker to confirm; beyond, they go to one that has not. */
const maxWaiting = 1024;

/** What the primary keeps of a worker. */
interface WorkerState {
  /** Handed to it and not yet written to its channel (queued in Node behind an earlier one). */
  unwritten: Map<number, Socket>;
  /** The last connection handed to it, until it confirms it. */
  awaiting: { id: number; sinceMs: number } | null;
}

/** The primary's side: which workers take connections, and the connections on their way to them. */
export class ConnectionHandout {
  private readonly states = new Map<Worker, WorkerState>();
  /** Workers that take connections, in the order of the turns. */
  private readonly ready: Worker[] = [];
  /** Accepted while no worker could take it (all restarting, or all yet to confirm). */
  private readonly waiting: Socket[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private next = 0;
  private nextId = 0;
  private closed = false;

  constructor(private readonly log: Logger) {}

  /** A message from a worker that is about connections (true), or another message (false). */
  onMessage(worker: Worker, message: unknown): boolean {
    const { type, id } = (message ?? {}) as { type?: unknown; id?: unknown };
    if (type === readyMessage) this.addReady(worker);
    else if (type === stoppingMessage) this.leaveTurns(worker);
    else if (type === takenMessage) {
      const state = this.states.get(worker);
      if (state !== undefined && state.awaiting?.id === id) state.awaiting = null;
      this.handOutWaiting();
    } else return false;
    return true;
  }

  /** A connection the listener accepted (created with `pauseOnConnect`). */
  handOut(socket: Socket): void {
    if (this.closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    // A client that resets while its connection waits here: nothing to tell anyone.
    if (socket.listenerCount('error') === 0) socket.on('error', () => undefined);
    if (this.waiting.length < maxWaiting) {
      // First come, first served: behind those already waiting.
      this.waiting.push(socket);
      return this.handOutWaiting();
    }
    // So many waiting: to the next worker in turn whether it confirmed or not (Node queues it for that
    // worker), rather than refused; refused only while no worker serves at all.
    const worker = this.pick(true);
    if (worker !== undefined) this.send(worker, socket);
    else socket.destroy();
  }

  /** A worker exited: what was on its way to it and not yet sent goes to the others. */
  gone(worker: Worker): void {
    this.leaveTurns(worker);
    const state = this.states.get(worker);
    this.states.delete(worker);
    if (state === undefined || state.unwritten.size === 0) return;
    const unwritten = [...state.unwritten.values()];
    state.unwritten.clear();
    for (const socket of unwritten) this.handOut(socket);
    this.log.warn(
      { handedOn: unwritten.length },
      'connections not yet sent to a gateway worker that exited: handed to another',
    );
  }

  /** Stops handing out: closes the connections still waiting for a worker. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const socket of this.waiting.splice(0)) socket.destroy();
  }

  private send(worker: Worker, socket: Socket): void {
    const state = this.states.get(worker)!;
    const id = this.nextId++;
    state.unwritten.set(id, socket);
    state.awaiting = { id, sinceMs: performance.now() };
    // keepOpen: Node would keep this copy until the worker's receipt, which a dead worker never sends.
    worker.send({ type: connectionMessage, id }, socket, { keepOpen: true }, (error) => {
      if (!state.unwritten.delete(id)) return; // the worker died meanwhile: handed on by gone()
      // Not written (the channel closed: the worker is going): another worker gets it.
      if (error !== null) return this.handOut(socket);
      // Written: the kernel holds the connection for the worker (and closes it if the worker never takes it).
      socket.destroy();
    });
  }

  private handOutWaiting(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    while (this.waiting.length > 0) {
      const worker = this.pick();
      if (worker === undefined) break;
      const socket = this.waiting.shift()!;
      if (socket.destroyed) continue;
      this.send(worker, socket);
    }
    // Workers yet to confirm get another connection once confirmWithinMs has passed.
    if (this.waiting.length > 0 && this.ready.length > 0 && !this.closed)
      this.retryTimer = setTimeout(() => this.handOutWaiting(), confirmWithinMs);
  }

  private addReady(worker: Worker): void {
    // Not twice, and not a worker that is gone (a message read from its channel after its exit).
    if (this.states.has(worker) || !worker.isConnected()) return;
    this.states.set(worker, { unwritten: new Map(), awaiting: null });
    this.ready.push(worker);
    this.handOutWaiting();
  }

  private leaveTurns(worker: Worker): void {
    const at = this.ready.indexOf(worker);
    if (at < 0) return;
    this.ready.splice(at, 1);
    if (at < this.next) this.next -= 1;
  }

  /** The next worker in turn that can take a connection now (with `anyConnected`: whether it confirmed or not). */
  private pick(anyConnected = false): Worker | undefined {
    const now = performance.now();
    for (let tried = 0; tried < this.ready.length; tried += 1) {
      const at = (this.next + tried) % this.ready.length;
      const worker = this.ready[at]!;
      const awaiting = anyConnected ? null : this.states.get(worker)?.awaiting;
      if (!worker.isConnected() || (awaiting && now - awaiting.sinceMs < confirmWithinMs)) continue;
      this.next = (at + 1) % this.ready.length;
      return worker;
    }
    return undefined;
  }
}

/**
 * A worker's side: connections from the primary are served by `server`, which does not listen itself.
 * Call `ready()` once the worker can serve, `stopping()` when it starts to shut down.
 */
export function takeConnections(server: Server): { ready(): void; stopping(): void } {
  // Nothing once this worker has let go of its channel (shutting down): no one is there to hear it.
  const tell = (message: object) => {
    if (process.connected) process.send?.(message);
  };
  // node:http starts checking its header and request timeouts, and tracking connections, when its server
  // emits 'listening': a server that never listens must say so.
  server.emit('listening');
  process.on('message', (message: unknown, socket?: Socket) => {
    const { type, id } = (message ?? {}) as { type?: unknown; id?: unknown };
    if (type !== connectionMessage) return;
    tell({ type: takenMessage, id });
    // Without a socket when the client had gone before it was sent (Node then sends the message alone).
    if (socket !== undefined) server.emit('connection', socket);
  });
  return { ready: () => tell({ type: readyMessage }), stopping: () => tell({ type: stoppingMessage }) };
}
