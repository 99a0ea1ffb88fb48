import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binPath, waitFor } from '../helpers/edgefleet-process.js';

/** One `edgefleet` process started by a fleet test; always stopped by PID at the end. */
export interface FleetProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (or the given signal) to its PID, then waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  /**
   * Run inside this network namespace: `ip netns exec NS node …`. `ip` execs node after entering the
   * namespace, so `child.pid` is still the node process.
   */
  netns?: string;
  /** Added to the environment (e.g. NODE_EXTRA_CA_CERTS). */
  env?: Record<string, string>;
}

/** Starts `node bin/edgefleet.js ARGS` (the built CLI) with its stdout and stderr captured. */
export function startCli(args: string[], options: StartOptions = {}): FleetProcess {
  const command = [process.execPath, binPath, ...args];
  if (options.netns !== undefined) command.unshift('ip', 'netns', 'exec', options.netns);
  const child = spawn(command[0]!, command.slice(1), {
    env: { EDGEFLEET_LOG_LEVEL: 'warn', ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (out += text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface FleetServer extends FleetProcess {
  url: string;
  adminKey: string;
  home: string;
  /** Calls the management API with the admin key. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Same with a raw request body (malformed JSON and the like). */
  apiRaw(method: string, path: string, raw: string): Promise<{ status: number; body: unknown }>;
}

/**
 * Waits until `proc` prints `pattern` and returns its first group (e.g. the URL a server listens on);
 * fails at once, with the process's output, if it exits first, and with the output after `timeoutMs`.
 */
export async function waitForOutput(
  proc: FleetProcess,
  pattern: RegExp,
  what: string,
  timeoutMs = 30_000,
): Promise<string> {
  return waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`${what} exited:\n${proc.output()}`);
      return pattern.exec(proc.output())?.[1];
    },
    timeoutMs,
    what,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}\n${proc.output()}`);
  });
}

/** Starts `edgefleet server --port 0` and reads its URL from stdout and its admin key from `<home>/admin-key`. */
export async function startServer(
  home: string,
  extra: string[],
  options: StartOptions = {},
): Promise<FleetServer> {
  const proc = startCli(['server', '--home', home, '--port', '0', ...extra], options);
  const url = await waitForOutput(proc, /listening on (http:\/\/\S+)/, 'the server', 20_000);
  const adminKey = (await readFile(join(home, 'admin-key'), 'utf8')).trim();
  const apiRaw = async (method: string, path: string, raw: string | undefined) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      ...(raw !== undefined && { body: raw }),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const api = (method: string, path: string, body?: unknown) =>
    apiRaw(method, path, body === undefined ? undefined : JSON.stringify(body));
  return { ...proc, url, adminKey, home, api, apiRaw };
}

/**
 * The engine key of a running instance, from the route table (`GET /api/v1/gateway/routes`, admin key):
 * what a test needs to talk to an engine directly, as the gateway does.
 */
export async function engineKey(server: FleetServer, instanceId: unknown): Promise<string> {
  const table = (await server.api('GET', '/api/v1/gateway/routes')).body as {
    models?: { instances: { id: string; apiKey?: string }[] }[];
  };
  const instance = table.models?.flatMap((m) => m.instances).find((i) => i.id === instanceId);
  if (instance?.apiKey === undefined)
    throw new Error(`no engine key for instance ${String(instanceId)} in the route table`);
  return instance.apiKey;
}

/** `{object:'list', data:[…]}` → its rows. */
export function rows(body: unknown): Record<string, unknown>[] {
  return ((body as { data?: Record<string, unknown>[] }).data ?? []).filter(Boolean);
}

/** The PIDs of every live descendant of `pid` (children first), read from /proc. */
export async function descendantPids(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may contain spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of parents) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** A process's command line (arguments joined by spaces), or '' when it is gone. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** True while a process with this PID exists (and is not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Stops a fleet process and everything it started: SIGTERM, then after `graceMs` SIGKILL to it and to any
 * descendant (engines) still alive. For cleanup in afterAll; never throws.
 */
export async function stopTree(proc: FleetProcess, graceMs = 10_000): Promise<void> {
  const pid = proc.child.pid;
  const tree = pid === undefined ? [] : await descendantPids(pid).catch(() => []);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)),
  );
  const result = await Promise.race([proc.stop(), timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') await proc.stop('SIGKILL');
  for (const child of tree) {
    if (isAlive(child)) {
      try {
        process.kill(child, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI once (`node bin/edgefleet.js ARGS`) and collects its exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [binPath, ...args],
      { env: { ...process.env, EDGEFLEET_SERVER: '', EDGEFLEET_API_KEY: '', ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The processes and temporary directories one test file starts: for failure messages and cleanup. */
export class TestResources {
  readonly processes: FleetProcess[] = [];
  private readonly dirs: string[] = [];

  /** A new temporary directory, removed by `cleanup()`. */
  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** Registers a process for `logs()` and `cleanup()`; returns it. */
  track<T extends FleetProcess>(proc: T): T {
    this.processes.push(proc);
    return proc;
  }

  /** The end of every process's output, for failure messages. */
  logs(tailChars = 3000): string {
    return this.processes
      .map((p, i) => `--- process ${i} (pid ${p.child.pid}) ---\n${p.output().slice(-tailChars)}`)
      .join('\n');
  }

  /** Rethrows with the processes' output attached. */
  async explain<T>(promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      throw new Error(`${String(error)}\n${this.logs()}`, { cause: error });
    }
  }

  /** Stops every process and what it started (a worker's engines). */
  async stop(graceMs = 10_000): Promise<void> {
    await Promise.all(this.processes.map((p) => stopTree(p, graceMs)));
  }

  /** `stop()`, then removes the directories. */
  async cleanup(graceMs = 10_000): Promise<void> {
    await this.stop(graceMs);
    await Promise.all(this.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}
