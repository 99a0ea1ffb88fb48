import { afterEach, describe, expect, it } from 'vitest';
import { closeServers, listen } from '../../../test/helpers/http-servers.js';
import { HealthChecker, type HealthTarget } from './health-checker.js';

afterEach(closeServers);

const settings = { path: '/health', intervalMs: 60_000, timeoutMs: 1000, unhealthyAfter: 1, healthyAfter: 1 };

/** A checker over fixed targets that records every change it reports. */
function checker(targets: HealthTarget[]) {
  const changes: { key: string; up: boolean; detail: string }[] = [];
  const rtts: string[] = [];
  const health = new HealthChecker(settings, async () => targets, {
    rtt: (target) => rtts.push(target.key),
    change: (target, up, detail) => changes.push({ key: target.key, up, detail }),
  });
  /** Starts the checks, waits for their first round to be reported (`expected` reports), stops them. */
  const firstRound = async (expected: number) => {
    health.start();
    const deadline = Date.now() + 3000;
    while (changes.length + rtts.length < expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await health.stop();
  };
  return { health, changes, rtts, firstRound };
}

describe('HealthChecker', () => {
  it('checks {url}{path} under the instance URL’s path prefix', async () => {
    const seen: string[] = [];
    const url = await listen((request, response) => {
      seen.push(request.url ?? '');
      response.writeHead(request.url === '/team-a/health' ? 200 : 500).end();
    });
    const { changes, rtts, firstRound } = checker([
      { key: 'prefixed', url: `${url}/team-a`, siteName: 's' },
      { key: 'bare', url, siteName: 's' },
    ]);
    await firstRound(2);
    expect(seen.sort()).toEqual(['/health', '/team-a/health']);
    expect(rtts).toEqual(['prefixed']);
    expect(changes).toEqual([{ key: 'bare', up: false, detail: 'health answered 500' }]);
  });

  it('speaks TLS to an https instance, and takes a URL it cannot send to as a failed check', async () => {
    const plain = await listen((_request, response) => response.writeHead(200).end());
    const { health, changes, firstRound } = checker([
      // An https URL whose server speaks plain HTTP: the TLS handshake fails (node:http would have thrown).
      { key: 'tls', url: plain.replace('http:', 'https:'), siteName: 's' },
      { key: 'ftp', url: 'ftp://127.0.0.1:21', siteName: 's' },
    ]);
    await firstRound(2);
    expect(health.isUp('tls')).toBe(false);
    expect(health.isUp('ftp')).toBe(false);
    const detail = (key: string) => changes.find((c) => c.key === key)?.detail ?? '';
    expect(detail('tls')).toMatch(/health check failed: .*(SSL|TLS|wrong version|packet length)/i);
    expect(detail('ftp')).toMatch(/health check failed: .*protocol/i);
  });
});
