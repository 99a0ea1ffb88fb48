import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
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

/** Starts `node bin/edgefleet.js ARGS` (the built CLI) with its stdout and stderr captured. */
export function startCli(args: string[]): FleetProcess {
  const child = spawn(process.execPath, [binPath, ...args], {
    env: { ...process.env, EDGEFLEET_LOG_LEVEL: 'warn' },
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
}

/** Starts `edgefleet server --port 0` and reads its URL from stdout and its admin key from `<home>/admin-key`. */
export async function startServer(home: string, extra: string[]): Promise<FleetServer> {
  const proc = startCli(['server', '--home', home, '--port', '0', ...extra]);
  const url = await waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`server exited:\n${proc.output()}`);
      return /listening on (http:\/\/\S+)/.exec(proc.output())?.[1];
    },
    20_000,
    'the server URL',
  );
  const adminKey = (await readFile(join(home, 'admin-key'), 'utf8')).trim();
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };
  return { ...proc, url, adminKey, home, api };
}

/** `{object:'list', data:[…]}` → its rows. */
export function rows(body: unknown): Record<string, unknown>[] {
  return ((body as { data?: Record<string, unknown>[] }).data ?? []).filter(Boolean);
}
