/**
 * How the primary of `edgefleet gateway --workers N` hands client connections to its workers. The primary
 * listens; each connection it accepts (paused: the primary reads nothing from it) goes to the next ready
 * worker in turn over that worker's IPC channel, and the primary keeps its own copy of the socket until
 * the worker says it has it. When a worker dies, a connection not yet sent to it goes to another worker,
 * and one sent but not confirmed is closed: its client sees the connection close (and can try again)
 * instead of waiting for ever. node:cluster's own round robin leaves such a connection open in the
 * primary, unread and unanswered (nodejs/node#21746), which is why the gateway does not use it.
 */
import type { Worker } from 'node:cluster';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../../telemetry/logger.js';

/** Primary → worker: a client connection (the socket travels with the message). */
const connectionMessage = 'edgefleet:gateway-connection';
/** Worker → primary: it has the connection `id` (the primary closes its copy). */
const takenMessage = 'edgefleet:gateway-connection-taken';
/** Worker → primary: it serves; connections may be handed to it. */
export const readyMessage = 'edgefleet:gateway-ready';

/** What the primary knows of a connection it handed to a worker and has no word of yet. */
interface Handed {
  socket: Socket;
  /** Written to the worker's channel (else still queued in this process, behind an earlier handle). */
  sent: boolean;
}

/** The primary's side: which workers take connections, and the connections on their way to them. */
export class ConnectionHandout {
  private readonly ready: Worker[] = [];
  private readonly handed = new Map<Worker, Map<number, Handed>>();
  /** Accepted while no worker was ready (every worker restarting): handed out when one is. */
  private readonly waiting: Socket[] = [];
  private next = 0;
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly log: Logger,
    private readonly maxWaiting = 1024,
  ) {}

  /** A message from a worker: `ready` or `taken`; false for any other message. */
  onMessage(worker: Worker, message: unknown): boolean {
    const { type, id } = (message ?? {}) as { type?: unknown; id?: unknown };
    if (type === readyMessage) {
      this.addReady(worker);
      return true;
    }
    if (type !== takenMessage) return false;
    const handed = this.handed.get(worker);
    const entry = typeof id === 'number' ? handed?.get(id) : undefined;
    if (entry !== undefined) {
      handed!.delete(id as number);
      // This process's copy only: the worker's stays open.
      entry.socket.destroy();
    }
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
    const worker = this.pick();
    if (worker === undefined) {
      if (this.waiting.length < this.maxWaiting) this.waiting.push(socket);
      else socket.destroy();
      return;
    }
    const id = this.nextId++;
    const entry: Handed = { socket, sent: false };
    this.handed.get(worker)!.set(id, entry);
    // keepOpen: this copy is closed once the worker confirms; Node would close it on its own receipt,
    // which never comes from a worker that dies holding the message.
    worker.send({ type: connectionMessage, id }, socket, { keepOpen: true }, (error) => {
      // An error means the channel is closed: the worker is going, and gone() hands the connection on.
      if (error === null) entry.sent = true;
    });
  }

  /** A worker exited (or stopped taking connections). */
  gone(worker: Worker): void {
    const at = this.ready.indexOf(worker);
    if (at >= 0) this.ready.splice(at, 1);
    const handed = this.handed.get(worker);
    this.handed.delete(worker);
    if (handed === undefined || handed.size === 0) return;
    let closedCount = 0;
    for (const { socket, sent } of handed.values()) {
      if (!sent) this.handOut(socket);
      else {
        // The worker may have read from it before dying: handing it on could lose the request's start.
        socket.destroy();
        closedCount += 1;
      }
    }
    this.log.warn(
      { handedOn: handed.size - closedCount, closed: closedCount },
      'connections on their way to a gateway worker that exited: handed to another, or closed',
    );
  }

  /** Stops handing out: closes the connections still waiting for a worker. */
  close(): void {
    this.closed = true;
    for (const socket of this.waiting.splice(0)) socket.destroy();
  }

  private addReady(worker: Worker): void {
    if (this.handed.has(worker)) return;
    this.handed.set(worker, new Map());
    this.ready.push(worker);
    for (const socket of this.waiting.splice(0)) this.handOut(socket);
  }

  /** The next ready worker in turn whose channel is open. */
  private pick(): Worker | undefined {
    for (let tried = 0; tried < this.ready.length; tried += 1) {
      const worker = this.ready[(this.next + tried) % this.ready.length]!;
      if (!worker.isConnected()) continue;
      this.next = (this.next + tried + 1) % this.ready.length;
      return worker;
    }
    return undefined;
  }
}

/**
 * A worker's side: connections from the primary are served by `server`, which does not listen itself.
 * Call `ready()` once the worker can serve.
 */
export function takeConnections(server: Server): { ready(): void } {
  // node:http starts checking its header and request timeouts, and tracking connections for
  // closeIdleConnections(), when its server emits 'listening': a server that never listens must say so.
  server.emit('listening');
  process.on('message', (message: unknown, socket?: Socket) => {
    const { type, id } = (message ?? {}) as { type?: unknown; id?: unknown };
    if (type !== connectionMessage) return;
    process.send?.({ type: takenMessage, id });
    // Without a socket when the client had gone before it was sent (Node then sends the message alone).
    if (socket !== undefined) server.emit('connection', socket);
  });
  return { ready: () => process.send?.({ type: readyMessage }) };
}
