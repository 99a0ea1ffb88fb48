/**
 * Child processes for the benchmark: every child is tracked and killed (by its PID) when the benchmark
 * ends, fails or is interrupted; servers run in their own process group so that a server's own children
 * (EdgeFleet's engine process) can be killed with it if it does not stop on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set();

function killAll(signal = 'SIGKILL') {
  for (const child of children) {
    try {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid, signal);
    } catch {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

process.on('exit', () => killAll('SIGKILL'));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping children\n`);
    killAll('SIGKILL');
    process.exit(130);
  });
}

/**
 * Starts a long-running child with stdout and stderr appended to `logFile`.
 * @returns {{ child: import('node:child_process').ChildProcess, exited: Promise<{ code: number|null, signal: string|null }> }}
 */
export function startProcess(command, args, { logFile, env } = {}) {
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`$ ${command} ${args.join(' ')}\n`);
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: env ?? process.env,
  });
  children.add(child);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      children.delete(child);
      log.write(`spawn error: ${error.message}\n`);
      resolve({ code: -1, signal: null, error });
    });
  });
  return { child, exited, logFile };
}

/** SIGTERM by PID, then (after `graceMs`) SIGKILL to the whole process group. */
export async function stopProcess({ child, exited }, graceMs = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) return { ...(await exited), forced: false };
  child.kill('SIGTERM');
  const stopped = await Promise.race([exited, sleep(graceMs).then(() => undefined)]);
  if (stopped) {
    // EdgeFleet's engine child should have gone with it; make sure nothing of the group is left.
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is empty
    }
    return { ...stopped, forced: false };
  }
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
  return { ...(await exited), forced: true };
}

/** Runs a command to completion, capturing stdout; rejects on a non-zero exit or after `timeoutMs`. */
export function runCommand(command, args, { timeoutMs = 600_000, logFile } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.add(child);
    const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
    log?.write(`$ ${command} ${args.join(' ')}\n`);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data) => (stdout += data));
    child.stderr.on('data', (data) => {
      stderr += data;
      log?.write(data);
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      reject(new Error(`${command} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      log?.end();
      if (code === 0) resolve({ stdout, stderr });
      else
        reject(
          new Error(
            `${command} exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`,
          ),
        );
    });
  });
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls `GET url` until it answers 200; fails early if the process exits. */
export async function waitForHealth(url, proc, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let exited;
  proc.exited.then((status) => (exited = status));
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (exited)
      throw new Error(
        `process exited (${exited.code ?? exited.signal}) before ${url} was healthy; see ${proc.logFile}`,
      );
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      last = `HTTP ${response.status}`;
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch (error) {
      last = error.cause?.code ?? error.message;
    }
    await sleep(250);
  }
  throw new Error(`${url} not healthy after ${timeoutMs} ms (last: ${last}); see ${proc.logFile}`);
}

/** CPU seconds from /proc: the whole machine's busy time, and this process plus its reaped children. */
function readProcStat() {
  const hz = 100; // USER_HZ on Linux
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7]) / hz;
  const self = processTimes('self');
  return { busy, self: self ? self.own + self.children : 0 };
}

/** utime+stime (own) and cutime+cstime (reaped children) of one process, in seconds. */
function processTimes(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i) => Number(fields[i]) / 100;
    return { ppid: Number(fields[1]), own: n(11) + n(12), children: n(13) + n(14) };
  } catch {
    return undefined;
  }
}

/** Own CPU seconds of `rootPid` and all its descendants (e.g. `edgefleet up` and its engine process). */
function treeTimes(rootPid) {
  if (!rootPid) return 0;
  const all = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const times = processTimes(name);
    if (times) all.set(Number(name), times);
  }
  const inTree = new Set([rootPid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, times] of all) {
      if (!inTree.has(pid) && inTree.has(times.ppid)) {
        inTree.add(pid);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const pid of inTree) total += all.get(pid)?.own ?? 0;
  return total;
}

/**
 * Measures how much CPU the rest of the machine used while the benchmark ran: busy CPU time minus this
 * process, its reaped children and the tree under `rootPid`. `otherCores` is that time per wall second.
 */
export function startCpuMeter(rootPid) {
  if (!existsSync('/proc/stat')) return { stop: () => undefined };
  const t0 = performance.now();
  const a = readProcStat();
  const treeA = treeTimes(rootPid);
  return {
    stop() {
      const b = readProcStat();
      const treeB = treeTimes(rootPid);
      const wallS = (performance.now() - t0) / 1000;
      const ours = b.self - a.self + (treeB - treeA);
      const other = Math.max(0, b.busy - a.busy - ours);
      return { wallS, oursCores: ours / wallS, otherCores: other / wallS };
    },
  };
}

/** Waits (up to `maxWaitMs`) until the rest of the machine uses less than `maxOtherCores` for a second. */
export async function waitForQuiet(maxOtherCores, maxWaitMs, rootPid, onWait) {
  const deadline = Date.now() + maxWaitMs;
  let last;
  do {
    const meter = startCpuMeter(rootPid);
    await sleep(1_000);
    last = meter.stop();
    if (!last || last.otherCores <= maxOtherCores) return last;
    onWait?.(last.otherCores);
  } while (Date.now() < deadline);
  return last;
}
