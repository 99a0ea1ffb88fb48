/**
 * Process helpers shared by the gateway benchmarks (run.mjs, paired.mjs): node scripts of this directory
 * (the bare proxies by name) started (their port read from a `listening N` line) and stopped, CPU time
 * read from /proc, and wrk runs with wrk.lua, whose `WRKJSON` line is the result. Every process started
 * here is killed on exit.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Clock ticks per second of /proc's CPU times. */
export const clkTck = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim() || 100);

const children = new Set();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

/** The bench's bare proxies (run.mjs --help says what each is): script and arguments before `--upstream`. */
const bareProxies = {
  bare: ['bare-proxy.mjs'],
  'bare-undici': ['bare-undici-proxy.mjs'],
  'raw-client': ['raw-net-proxy.mjs', '--server', 'http'],
  'raw-net': ['raw-net-proxy.mjs', '--server', 'net'],
};

/** Starts the bare proxy `name` in front of `upstreamUrl`; undefined when no bare proxy has that name. */
export function startBareProxy(name, upstreamUrl, nodeFlags = []) {
  const proxy = bareProxies[name];
  return proxy && startNode(proxy[0], [...proxy.slice(1), '--upstream', upstreamUrl], nodeFlags);
}

/** Starts a node script of this directory; `port` resolves once it prints `listening N`. */
export function startNode(script, args, nodeFlags = [], env = process.env) {
  const child = spawn(process.execPath, [...nodeFlags, path.join(here, script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20_000)));
  const port = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start: ${stderr}`)), 15_000);
    child.stdout.on('data', () => {
      const match = /listening (\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`${script} exited ${code}: ${stderr}`)));
  });
  return { child, port, output: () => ({ stdout, stderr }) };
}

/** SIGTERM (SIGKILL after 10 s) and waits for the exit. */
export async function stopNode(proc) {
  if (proc.child.exitCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
  await once(proc.child, 'exit');
  clearTimeout(timer);
  children.delete(proc.child);
}

/** CPU seconds (user + system) of a process and its child processes (a gateway's workers). */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean);
    const own = (Number(fields[11]) + Number(fields[12])) / clkTck;
    return kids.reduce((sum, kid) => sum + cpuSeconds(Number(kid)), own);
  } catch {
    return NaN;
  }
}

/** Runs wrk with wrk.lua (`args` before the script, then `url`); resolves with its WRKJSON result. */
export async function runWrk(args, url, env) {
  const child = spawn('wrk', [...args, '-s', path.join(here, 'wrk.lua'), url], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  await once(child, 'exit');
  children.delete(child);
  const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (!line) throw new Error(`wrk printed no result:\n${out}`);
  return JSON.parse(line.slice('WRKJSON '.length));
}
