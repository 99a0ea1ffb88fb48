/**
 * Closing a server gracefully: it stops accepting, each keep-alive connection is closed as soon as it has
 * no request in flight, requests in flight may finish within a grace period, and whatever is left then is
 * closed. Connections are counted from the server's 'connection' event, so those another process hands
 * over (`server.emit('connection', socket)`, as gateway workers get theirs) count as well as those the
 * server accepts itself.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** How often idle keep-alive connections are closed while a server drains. */
const idleSweepMs = 50;

/** Starts counting `server`'s open connections (call before it serves); how many are open now. */
export function countConnections(server: Server): () => number {
  let open = 0;
  server.on('connection', (socket: Socket) => {
    open += 1;
    socket.once('close', () => (open -= 1));
  });
  return () => open;
}

/** Closes `server` as the file header says, in at most about `graceMs`; `open` from countConnections. */
export async function closeGracefully(server: Server, open: () => number, graceMs: number): Promise<void> {
  if (server.listening) server.close();
  const deadline = Date.now() + graceMs;
  for (;;) {
    server.closeIdleConnections();
    if (open() === 0 || Date.now() >= deadline) break;
    await sleep(Math.min(idleSweepMs, Math.max(1, deadline - Date.now())));
  }
  server.closeAllConnections();
}
