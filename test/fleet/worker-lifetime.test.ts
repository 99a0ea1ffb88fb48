import { chmod, mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/edgefleet-process.js';
import {
  type FleetProcess,
  isAlive,
  rows,
  runCli,
  startCli,
  startServer,
  TestResources,
} from './fleet-processes.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fakeVllm = join(fixtures, 'engines', 'fake-vllm.mjs');
const nvidiaCapture = join(fixtures, 'accelerators', 'nvidia', 'rtx4090x8-query.csv');

/**
 * When an `edgefleet worker` starts, joins and ends: a worker started before its control plane joins
 * when it comes up; one that can never join says why and exits; a second Ctrl-C kills its engines
 * rather than leaving them behind; engines an earlier, killed run left behind are stopped at start even
 * when their instance is gone, and the directories of instances retired long ago are removed.
 */
describe('edgefleet worker lifetime', () => {
  const resources = new TestResources();
  const enginePids: number[] = [];

  afterAll(async () => {
    for (const pid of enginePids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await resources.cleanup();
  });

  it('joins a control plane that comes up after it (a connection error does not spend the token); exits 1 once revoked', async () => {
    const serverHome = await resources.tempDir('ef-late-server-');
    const first = await startServer(serverHome, []);
    const token = (await readFile(join(serverHome, 'join-token'), 'utf8')).trim();
    const port = new URL(first.url).port;
    expect((await first.stop()).code).toBe(0);

    const worker = resources.track(
      startCli([
        ...['worker', '--server', first.url, '--token', token, '--site', 'late', '--name', 'n1'],
        ...['--home', await resources.tempDir('ef-late-worker-'), '--heartbeat-ms', '200'],
      ]),
    );
    await new Promise((resolve) => setTimeout(resolve, 1500)); // several heartbeats find nothing there
    expect(worker.child.exitCode).toBeNull();
    // Not yet joined: nothing to heartbeat and no instance that keeps running, so it does not say so.
    expect(worker.output()).toMatch(/cannot join yet; retrying/);
    expect(worker.output()).not.toMatch(/heartbeat failed/);
    const server = resources.track(await startServer(serverHome, ['--port', port]));
    const node = await resources.explain(
      waitFor(
        async () => rows((await server.api('GET', '/api/v1/nodes')).body)[0],
        15_000,
        'the worker to register',
      ),
    );
    expect(node['name']).toBe('n1');

    // Revoked (`edgefleet nodes revoke`): its token is spent, so it can never join again; it says so and
    // exits rather than heartbeating into 401s for ever.
    expect((await server.api('DELETE', `/api/v1/nodes/${String(node['id'])}`)).status).toBe(200);
    expect(await worker.exited).toEqual({ code: 1, signal: null });
    expect(worker.output()).toMatch(/rejected this node's credential .* new join token/);
  });

  it('exits 2 without a credential or a join token, and 1 when the control plane refuses its token', async () => {
    const home = await resources.tempDir('ef-nojoin-');
    const bare = await runCli(['worker', '--server', 'http://127.0.0.1:9', '--site', 's', '--home', home]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/no node credential for http:\/\/127\.0\.0\.1:9.*pass a join token/);

    const server = resources.track(await startServer(await resources.tempDir('ef-refuse-server-'), []));
    const refused = await runCli([
      ...['worker', '--server', server.url, '--token', 'ef_join_not-a-token', '--site', 's'],
      ...['--home', home, '--heartbeat-ms', '200'],
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused to register this node: .*401.*new join token/);
    // The server's reason in words, not its JSON error body.
    expect(refused.stderr).toMatch(/401 to register: join token rejected/);
    expect(refused.stderr).not.toMatch(/\{"error"/);
    const ftp = await runCli(['worker', '--server', 'ftp://x', '--site', 's', '--home', home]);
    expect(ftp.code).toBe(2);
    expect(ftp.stderr).toMatch(/--server must be an http\(s\) URL, got "ftp:\/\/x"/);
  });

  it('kills a slow-stopping engine at a second Ctrl-C, and stops engines a killed run left behind', async () => {
    // A GPU node (captured nvidia-smi) running vLLM's test double, which ignores SIGTERM as a hung
    // engine does: a graceful stop would wait 10 s for it.
    const tools = await resources.tempDir('ef-lifetime-tools-');
    await writeFile(join(tools, 'nvidia-smi'), `#!/bin/sh\ncat '${nvidiaCapture}'\n`);
    await chmod(join(tools, 'nvidia-smi'), 0o755);
    const serverHome = await resources.tempDir('ef-lifetime-server-');
    const server = resources.track(await startServer(serverHome, ['--reconcile-ms', '200']));
    const token = (await readFile(join(serverHome, 'join-token'), 'utf8')).trim();
    const home = await resources.tempDir('ef-lifetime-worker-');
    const startWorker = (...extra: string[]): FleetProcess => {
      const saved = { path: process.env['PATH'], ignore: process.env['FAKE_VLLM_IGNORE_TERM'] };
      process.env['PATH'] = `${tools}${delimiter}${saved.path ?? ''}`; // inherited at spawn
      process.env['FAKE_VLLM_IGNORE_TERM'] = '1';
      try {
        return resources.track(
          startCli(
            [
              ...['worker', '--server', server.url, '--token', token, '--site', 'gpu', '--name', 'g1'],
              ...['--home', home, '--heartbeat-ms', '200', '--engine-bin', `vllm=${fakeVllm}`],
              ...extra,
            ],
            { env: { FAKE_VLLM_REPLY_MS: '0', EDGEFLEET_LOG_LEVEL: 'info' } },
          ), // live load: idle
        );
      } finally {
        process.env['PATH'] = saved.path;
        if (saved.ignore === undefined) delete process.env['FAKE_VLLM_IGNORE_TERM'];
        else process.env['FAKE_VLLM_IGNORE_TERM'] = saved.ignore;
      }
    };
    /** The pid of the running instance's engine, once one runs that is not `other`. */
    const runningEngine = (other?: number) =>
      resources.explain(
        waitFor(
          async () => {
            const [instance] = rows((await server.api('GET', '/api/v1/instances')).body);
            if (instance?.['state'] !== 'running') return undefined;
            const launch = join(home, 'instances', String(instance['id']), 'fake-vllm-launch.json');
            const { pid } = JSON.parse(await readFile(launch, 'utf8')) as { pid: number };
            if (pid === other || !isAlive(pid)) return undefined;
            enginePids.push(pid);
            return pid;
          },
          20_000,
          'a running engine',
        ),
      );

    const first = startWorker();
    const created = await server.api('POST', '/api/v1/deployments', {
      name: 'r1',
      model: 'deepseek-r1-distill-qwen-1.5b',
      quant: 'bf16',
      engine: 'vllm',
      replicas: 1,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const engine = await runningEngine();

    // Ctrl-C starts the graceful stop (the node leaves, the idle engine is drained, then SIGTERM); a
    // second one kills the engine and exits at once.
    first.child.kill('SIGINT');
    await resources.explain(
      waitFor(
        async () => (/"msg":"engine drained"/.test(first.output()) ? true : undefined),
        10_000,
        'the drain',
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(isAlive(engine)).toBe(true); // still in its grace period: it ignores SIGTERM
    first.child.kill('SIGINT');
    expect(await first.exited).toEqual({ code: 130, signal: null });
    await waitFor(async () => (isAlive(engine) ? undefined : true), 2000, 'the engine to be killed');

    // A run killed outright leaves its engine (a process group of its own) running …
    const second = startWorker();
    const leftover = await runningEngine(engine);
    expect(await second.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(isAlive(leftover)).toBe(true);
    const [placed] = rows((await server.api('GET', '/api/v1/instances')).body);
    const leftoverDir = String(placed?.['id']);
    // … and meanwhile its instance goes away, so no start of that instance would stop it: the next run
    // stops it before anything else.
    const deploymentId = (created.body as { id: string }).id;
    expect((await server.api('DELETE', `/api/v1/deployments/${deploymentId}`)).status).toBe(200);
    // Directories of instances retired long ago (a day old): with --keep-instance-dirs 1 only the most
    // recently active retired one stays, the leftover engine's, whose stale engine.pid is gone by then.
    const instancesDir = join(home, 'instances');
    expect(await readdir(instancesDir)).toContain(leftoverDir);
    const dayAgo = Date.now() / 1000 - 86_400;
    for (const id of ['old-1', 'old-2', 'old-3']) {
      await mkdir(join(instancesDir, id));
      await writeFile(join(instancesDir, id, 'engine.log'), 'INFO: Uvicorn running\n');
      await utimes(join(instancesDir, id, 'engine.log'), dayAgo, dayAgo);
      await utimes(join(instancesDir, id), dayAgo, dayAgo);
    }
    const third = startWorker('--keep-instance-dirs', '1');
    const said = /stopped an engine left running by an earlier worker run/;
    await resources.explain(
      waitFor(
        async () => (isAlive(leftover) || !said.test(third.output()) ? undefined : true),
        10_000,
        'the leftover engine to be stopped, and the worker to say so',
      ),
    );
    await resources.explain(
      waitFor(
        async () => ((await readdir(instancesDir)).length === 1 ? true : undefined),
        10_000,
        'the retired instance directories to be removed',
      ),
    );
    expect(await readdir(instancesDir)).toEqual([leftoverDir]);
    expect((await third.stop()).code).toBe(0);
  });
});
