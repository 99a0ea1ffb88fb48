import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const binPath = fileURLToPath(new URL('../../bin/edgefleet.js', import.meta.url));

export interface RunningEdgeFleet {
  child: ChildProcess;
  baseUrl: string;
  home: string;
  stdout: () => string;
  stderr: () => string;
  /** Settles when the process exits, however it was stopped. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `edgefleet up` (the built CLI, as a user runs it) on a free port and waits until its /health
 * says ready. Always stop it: `stop()` sends SIGTERM to its PID and waits for the exit.
 */
export async function startEdgeFleet(
  args: string[],
  options: {
    env?: Record<string, string>;
    readyTimeoutMs?: number;
    waitReady?: boolean;
    /** Its own process group (as a shell's foreground job), which `process.kill(-pid, sig)` signals. */
    ownGroup?: boolean;
  } = {},
): Promise<RunningEdgeFleet> {
  const homeAt = args.indexOf('--home');
  const home = homeAt >= 0 ? args[homeAt + 1]! : await mkdtemp(join(tmpdir(), 'ef-home-'));
  const fullArgs = ['up', '--port', '0', '--threads', '1', ...(homeAt >= 0 ? [] : ['--home', home]), ...args];
  const child = spawn(process.execPath, [binPath, ...fullArgs], {
    env: { ...process.env, EDGEFLEET_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownGroup ?? false,
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (err += text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let baseUrl = '';
  let ready = false;
  while (Date.now() < deadline) {
    const match = /listening on (http:\/\/\S+?)\/v1/.exec(out);
    if (match) {
      baseUrl = match[1]!;
      if (options.waitReady === false) break;
      const health = await fetch(`${baseUrl}/health`).catch(() => undefined);
      if (health?.ok) {
        ready = true;
        break;
      }
    }
    if (child.exitCode !== null)
      throw new Error(`edgefleet up exited early (${child.exitCode}):\n${out}\n${err}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!baseUrl || (!ready && options.waitReady !== false)) {
    child.kill('SIGKILL');
    throw new Error(`edgefleet up did not become ready:\n${out}\n${err}`);
  }
  return {
    child,
    baseUrl,
    home,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Reads one Prometheus sample value (first line whose name and labels start with `prefix`). */
export function metricValue(text: string, prefix: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/**
 * The Prometheus text of `${baseUrl}/metrics`, sent with `key` (an admin or metrics key) when given; `signal`
 * bounds the read.
 */
export async function scrapeMetrics(baseUrl: string, key?: string, signal?: AbortSignal): Promise<string> {
  const response = await fetch(`${baseUrl}/metrics`, {
    ...(key !== undefined && { headers: { authorization: `Bearer ${key}` } }),
    ...(signal !== undefined && { signal }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${baseUrl}/metrics answered ${response.status}: ${text}`);
  return text;
}
