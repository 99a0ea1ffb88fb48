import { createServer } from 'node:net';

/** Free TCP ports for an engine, chosen just before it starts. */

function probe(host: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

/** True when nothing listens on `host:port` (a bind succeeds). */
export async function isPortFree(host: string, port: number): Promise<boolean> {
  return (await probe(host, port)) !== null;
}

/**
 * `count` consecutive free ports on `host` (MindIE takes port, port+1 and port+2), the first one picked by
 * the OS. `preferred` is returned again when its block is still free, so a restarted engine keeps its URL.
 */
export async function freePortBlock(host: string, count = 1, preferred?: number): Promise<number> {
  const blockFree = async (first: number) => {
    if (first + count - 1 > 65535) return false;
    for (let i = 0; i < count; i++) if (!(await isPortFree(host, first + i))) return false;
    return true;
  };
  if (preferred !== undefined && (await blockFree(preferred))) return preferred;
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await probe(host, 0);
    if (first !== null && (await blockFree(first))) return first;
  }
  throw new Error(`no block of ${count} free ports found on ${host}`);
}
