import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { metricValue, scrapeMetrics, waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { rows, startCli, startServer, TestResources, waitForOutput } from '../fleet/fleet-processes.js';

/**
 * The usage journal's disk fills up: a room gateway (`edgefleet gateway`) whose home is a 1 MiB tmpfs,
 * filled to the last page while it serves. Requests must still be answered in full; every record that
 * could not be written must be reported (`edgefleet_gateway_usage_journal_errors_total` and a log line per
 * record), never lost silently — every request sent is either in the store or counted as lost — and once
 * space is back, records are journaled and shipped again.
 */
function mountUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs';
  try {
    execFileSync('mount', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'mount(8) is missing';
  }
}

const skip = mountUnavailableReason();
if (skip) console.warn(`journal disk-full test skipped: ${skip}`);

describe.skipIf(skip !== undefined)('the usage journal on a full disk', () => {
  const resources = new TestResources();
  const { processes } = resources;
  let mounted: string | undefined;

  afterAll(async () => {
    await resources.stop();
    if (mounted) execFileSync('umount', ['-l', mounted]);
    await resources.cleanup();
  });

  const tempDir = (prefix: string) => resources.tempDir(prefix);

  it('answers every request, reports each lost record, and journals again once space is back', async () => {
    const model = await makeTestModel({});
    const serverHome = await tempDir('ef-full-server-');
    const server = await startServer(serverHome, ['--reconcile-ms', '200', '--context', '512']);
    processes.push(server);
    const token = (await readFile(join(serverHome, 'join-token'), 'utf8')).trim();
    const worker = startCli([
      ...['worker', '--server', server.url, '--token', token, '--site', 'north', '--name', 'n1'],
      ...['--home', await tempDir('ef-full-worker-'), '--heartbeat-ms', '200', '--threads', '1'],
      ...['--parallel', '1'],
    ]);
    processes.push(worker);
    expect(
      (await server.api('POST', '/api/v1/deployments', { name: 'tiny', model: model.path, replicas: 1 }))
        .status,
    ).toBe(201);
    await waitFor(
      async () =>
        rows((await server.api('GET', '/api/v1/instances')).body).some((i) => i['state'] === 'running')
          ? true
          : undefined,
      60_000,
      'the instance to run',
    );

    // The room gateway's home on a 1 MiB file system.
    const home = await tempDir('ef-full-gateway-');
    await mkdir(home, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', home]);
    mounted = home;
    const gateway = startCli([
      ...['gateway', '--server', server.url, '--site', 'north', '--port', '0', '--api-key', server.adminKey],
      ...['--home', home],
    ]);
    processes.push(gateway);
    const url = await waitForOutput(gateway, /listening on (http:\/\/\S+)/, 'the room gateway', 15_000);
    await waitFor(
      async () =>
        ((await (await fetch(`${url}/health`)).json()) as { routes: { instances: number } }).routes
          .instances === 1
          ? true
          : undefined,
      15_000,
      'routes',
    );
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: server.adminKey, maxRetries: 0 });
    const ask = async () => {
      const reply = await client.chat.completions.create({
        model: 'tiny',
        messages: [{ role: 'user', content: 'hi there' }],
        temperature: 0,
      });
      expect(reply.choices[0]?.message.content).toBe(model.expectedText);
    };
    const lost = async () =>
      metricValue(
        await scrapeMetrics(url, server.adminKey),
        'edgefleet_gateway_usage_journal_errors_total',
      ) ?? -1;
    const stored = async () =>
      rows((await server.api('GET', '/api/v1/usage?group_by=')).body).reduce(
        (n, r) => n + Number(r['requests']),
        0,
      );

    // Space left: journaled and shipped.
    for (let i = 0; i < 3; i++) await ask();
    expect(await lost()).toBe(0);
    await waitFor(async () => ((await stored()) === 3 ? true : undefined), 15_000, '3 records stored');

    // Fill the file system to the last page (dd stops at ENOSPC), then serve. Lines still fit in the
    // journal segment's last page until it is full; after that every record is refused by the disk.
    const filler = join(home, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4096'], { stdio: 'ignore' });
    } catch {
      // dd ends with "No space left on device": the point
    }
    const full = 30;
    for (let i = 0; i < full; i++) await ask();
    const lostWhileFull = await lost();
    expect(lostWhileFull).toBeGreaterThan(0);
    expect(
      (gateway.output().match(/usage record lost: the journal could not be written/g) ?? []).length,
    ).toBe(lostWhileFull);

    // Space back: journaled and shipped again. Every request is either stored or reported lost.
    await rm(filler);
    for (let i = 0; i < 2; i++) await ask();
    expect(await lost()).toBe(lostWhileFull);
    const sent = 3 + full + 2;
    await waitFor(
      async () => ((await stored()) === sent - lostWhileFull ? true : undefined),
      15_000,
      `${sent - lostWhileFull} records stored`,
    );
    console.info(
      `journal disk full: ${sent} requests answered, ${lostWhileFull} records lost and reported, ${await stored()} stored`,
    );
  }, 120_000);
});
