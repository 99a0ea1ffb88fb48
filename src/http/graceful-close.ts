/**
 * Closing a server gracefully: it stops accepting; a keep-alive connection with no request in flight is
 * closed at once, one with requests in flight once their answers have been written out whole; an answer
 * whose headers are not sent yet, and one to a request that arrives meanwhile, says `connection: close`;
 * whatever is still open when the grace period ends is closed (a connection that never sends a request
 * waits for that, or for the server's header timeout). Connections are tracked from the server's
 * 'connection' event, so those another process hands over (`server.emit('connection', socket)`, as
 * gateway workers get theirs) count as well as those the server accepts itself. (node:http's
 * closeIdleConnections() would also close a connection whose answer is ended but not yet written out,
 * cutting it short.)
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** How often a draining server looks whether its connections are all closed. */
const drainPollMs = 50;

export interface TrackedConnections {
  /** Connections open now. */
  open(): number;
  /** Closes the server as the file header says; resolves when none is open, at most about `graceMs` on. */
  close(graceMs: number): Promise<void>;
}

/** Starts tracking `server`'s connections and requests (call before it serves). */
export function trackConnections(server: Server): TrackedConnections {
  const sockets = new Set<Socket>();
  /** Connections (TLS ones as their TLS socket) that have answered a request and have none in flight. */
  const idle = new Set<Socket>();
  let draining = false;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      idle.delete(socket);
    });
  });
  server.on('secureConnection', (socket: Socket) => socket.once('close', () => idle.delete(socket)));
  /** Requests in flight per connection (more than one when a client pipelines). */
  const inFlight = new WeakMap<Socket, number>();
  /** Answers not yet written out, and their connections. */
  const answering = new Map<ServerResponse, Socket>();
  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    idle.delete(socket);
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    if (draining) response.shouldKeepAlive = false;
    answering.set(response, socket);
    // 'close' comes after the answer was written out whole (or the request was aborted).
    response.once('close', () => {
      answering.delete(response);
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (left > 0 || socket.destroyed) return;
      if (draining) socket.destroySoon();
      else idle.add(socket);
    });
  };
  // Before the handler, which may answer at once. Only where the server handles 'checkContinue' (a
  // listener of its own stops node:http from answering 100 Continue for it).
  server.prependListener('request', onRequest);
  if (server.listenerCount('checkContinue') > 0) server.prependListener('checkContinue', onRequest);

  return {
    open: () => sockets.size,
    close: async (graceMs) => {
      draining = true;
      if (server.listening) server.close();
      // Answers whose headers are still to come say `connection: close`, so no client sends another
      // request on a connection about to close (not where more requests are pipelined behind one:
      // node:http would close the connection after it).
      for (const [response, socket] of answering)
        if (!response.headersSent && inFlight.get(socket) === 1) response.shouldKeepAlive = false;
      for (const socket of idle) socket.destroySoon();
      idle.clear();
      const deadline = Date.now() + graceMs;
      while (sockets.size > 0 && Date.now() < deadline) {
        await sleep(Math.min(drainPollMs, Math.max(1, deadline - Date.now())));
      }
      for (const socket of sockets) socket.destroy();
    },
  };
}
