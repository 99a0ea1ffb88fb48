import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath } from '../helpers/edgefleet-process.js';

interface Started {
  child: ChildProcess;
  baseUrl: string;
  stdout: () => string;
}

/** Starts the built `edgefleet server` on a free port and waits for its "listening" line. */
async function startServer(home: string, extra: string[] = []): Promise<Started> {
  const child = spawn(process.execPath, [binPath, 'server', '--home', home, '--port', '0', ...extra], {
    env: { ...process.env, EDGEFLEET_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (err += text));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const match = /listening on (http:\/\/\S+)/.exec(out);
    if (match?.[1]) return { child, baseUrl: match[1], stdout: () => out };
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`edgefleet server did not start: ${out}\n${err}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stop(started: Started): Promise<number | null> {
  if (started.child.exitCode !== null) return started.child.exitCode;
  const exited = new Promise<number | null>((resolve) => started.child.once('exit', (code) => resolve(code)));
  process.kill(started.child.pid!, 'SIGTERM');
  return exited;
}

async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [binPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stdout: out, stderr: err };
}

describe('edgefleet server (built CLI)', () => {
  let home: string;
  const running: Started[] = [];
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'ef-server-cli-'));
  });
  afterAll(async () => {
    for (const started of running) await stop(started);
    await rm(home, { recursive: true, force: true });
  });

  it('prints the admin key and join token once, writes them 0600, and rotates the token', async () => {
    const first = await startServer(home);
    running.push(first);
    const adminKey = (await readFile(join(home, 'admin-key'), 'utf8')).trim();
    const joinToken = (await readFile(join(home, 'join-token'), 'utf8')).trim();
    expect(adminKey).toMatch(/^ef_admin_/);
    expect(joinToken).toMatch(/^ef_join_/);
    expect(first.stdout()).toContain(adminKey);
    expect(first.stdout()).toContain(joinToken);
    for (const file of ['admin-key', 'join-token']) {
      expect((await stat(join(home, file))).mode & 0o777).toBe(0o600);
    }
    const health = await fetch(`${first.baseUrl}/health`);
    expect(health.status).toBe(200);
    const sites = await fetch(`${first.baseUrl}/api/v1/sites`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(sites.status).toBe(200);
    expect((await fetch(`${first.baseUrl}/api/v1/sites`)).status).toBe(401);
    expect(await stop(first)).toBe(0);

    const second = await startServer(home);
    running.push(second);
    expect(second.stdout()).not.toContain('ef_admin_');
    expect(second.stdout()).not.toContain('ef_join_');
    const stillValid = await fetch(`${second.baseUrl}/api/v1/nodes`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(stillValid.status).toBe(200);
    expect(await stop(second)).toBe(0);

    const rotated = await runCli(['server', 'token', '--home', home]);
    expect(rotated.code).toBe(0);
    const newToken = rotated.stdout.trim();
    expect(newToken).toMatch(/^ef_join_/);
    expect(newToken).not.toBe(joinToken);
    expect((await readFile(join(home, 'join-token'), 'utf8')).trim()).toBe(newToken);
    expect((await stat(join(home, 'join-token'))).mode & 0o777).toBe(0o600);
  });

  it('names itself in usage errors, says where its options are, and takes -h for --help', async () => {
    const bogus = await runCli(['server', '--bogus-flag']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/^edgefleet server: Unknown option '--bogus-flag'/);
    expect(bogus.stderr).toContain('Run `edgefleet server --help` for its options.');
    const short = await runCli(['server', '-h']);
    expect(short.code).toBe(0);
    expect(short.stdout).toMatch(/^usage: edgefleet server/);
  });

  it('creates no credentials on a first start whose port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const fresh = await mkdtemp(join(tmpdir(), 'ef-server-cli-taken-'));
    try {
      const port = String((taken.address() as AddressInfo).port);
      const result = await runCli(['server', '--home', fresh, '--port', port]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `cannot listen on 127.0.0.1:${port}: another process is listening there; stop it or choose another --port`,
      );
      expect(result.stdout).not.toMatch(/ef_admin_/);
      await expect(stat(join(fresh, 'admin-key'))).rejects.toThrow(/ENOENT/);
    } finally {
      taken.close();
      await rm(fresh, { recursive: true, force: true });
    }
  });

  it('keeps the admin key of a home started on a second database, and both databases accept it', async () => {
    const shared = await mkdtemp(join(tmpdir(), 'ef-server-cli-two-'));
    try {
      const first = await startServer(shared);
      running.push(first);
      const adminKey = (await readFile(join(shared, 'admin-key'), 'utf8')).trim();
      expect(await stop(first)).toBe(0);

      const other = await startServer(shared, ['--database', `sqlite:${join(shared, 'other.db')}`]);
      running.push(other);
      expect(other.stdout()).toContain('is its admin key too');
      expect(other.stdout()).not.toContain(adminKey);
      expect(other.stdout()).toMatch(/worker join token: {2}ef_join_/);
      expect((await readFile(join(shared, 'admin-key'), 'utf8')).trim()).toBe(adminKey);
      const onOther = await fetch(`${other.baseUrl}/api/v1/nodes`, {
        headers: { authorization: `Bearer ${adminKey}` },
      });
      expect(onOther.status).toBe(200);
      expect(await stop(other)).toBe(0);

      const again = await startServer(shared);
      running.push(again);
      const onFirst = await fetch(`${again.baseUrl}/api/v1/nodes`, {
        headers: { authorization: `Bearer ${adminKey}` },
      });
      expect(onFirst.status).toBe(200);
      expect(await stop(again)).toBe(0);
    } finally {
      await rm(shared, { recursive: true, force: true });
    }
  });
});
