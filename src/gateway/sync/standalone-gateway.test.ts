import { createServer } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalRateLimiter } from '../auth/local-rate-limiter.js';
import { startStandaloneGateway, type StandaloneGatewayOptions } from './standalone-gateway.js';

/** A limiter that says whether it was closed (a Redis limiter's connection keeps the process alive). */
class ClosableLimiter extends LocalRateLimiter {
  closed = 0;
  override close(): Promise<void> {
    this.closed += 1;
    return super.close();
  }
}

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function options(home: string, limiter: ClosableLimiter, port = 0): Promise<StandaloneGatewayOptions> {
  return {
    // Nothing listens on port 9 here: the first route pull fails, as with an unreachable control plane.
    serverUrl: 'http://127.0.0.1:9',
    apiKey: 'ef_admin_x',
    site: 'north',
    region: null,
    home,
    host: '127.0.0.1',
    port,
    maxBodyBytes: 1 << 20,
    upstreamWaitMs: 0,
    limiter,
    log: pino({ level: 'silent' }),
  };
}

async function tempHome(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-standalone-'));
  dirs.push(dir);
  return dir;
}

describe('startStandaloneGateway failing before it listens', () => {
  it('closes the limiter when the usage journal cannot be opened', async () => {
    const home = await tempHome();
    // The journal's directory is a file: mkdir fails.
    await writeFile(join(home, 'usage-journal'), 'not a directory');
    const limiter = new ClosableLimiter();
    await expect(startStandaloneGateway(await options(home, limiter))).rejects.toThrow(/EEXIST|ENOTDIR/);
    expect(limiter.closed).toBe(1);
  });

  it('closes the limiter and stops its polls when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const limiter = new ClosableLimiter();
      const { port } = taken.address() as AddressInfo;
      await expect(startStandaloneGateway(await options(await tempHome(), limiter, port))).rejects.toThrow(
        /EADDRINUSE/,
      );
      expect(limiter.closed).toBe(1);
    } finally {
      taken.close();
    }
  });

  it('starts and closes once when nothing is in the way', async () => {
    const limiter = new ClosableLimiter();
    const gateway = await startStandaloneGateway(await options(await tempHome(), limiter));
    expect(gateway.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await gateway.close(100);
    expect(limiter.closed).toBe(1);
  });
});
