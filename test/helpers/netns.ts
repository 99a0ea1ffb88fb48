import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';

/**
 * Network namespaces as separate hosts on one machine: a hub namespace holding a Linux bridge, one
 * namespace per host with a veth into the bridge, and one veth from the root namespace into the bridge
 * so that the test process (a client only) reaches every host. Addresses come from a random private
 * 10.x.y.0/24 that no route or address of this machine overlaps, so parallel runs never clash.
 */
export interface NetnsTopology {
  /** Random tag in every namespace and interface name of this topology. */
  tag: string;
  /** e.g. `10.37.201` (hosts are `${prefix}.N`). */
  prefix: string;
  /** The root namespace's address in the subnet (the test client's side). */
  clientAddress: string;
  hosts: Record<string, NetnsHost>;
  /** The hub namespace (holds the bridge and the hub side of every host's veth). */
  hub: string;
  /** How the `delays` given at creation are made: `tc netem`, or user-space delay links (no netem here). */
  delayMethod: 'netem' | 'user-space' | null;
  /** Resolves once every user-space delay link passes frames (at once without any). */
  ready: Promise<void>;
  /**
   * Delays every packet the host sends by `ms`, so that every round trip with it (from the client and from
   * every other host) takes `ms` longer; 0 removes the delay. With `tc netem` on its interface, or through
   * its user-space delay link when it has one; throws for a host without a link delay where the kernel has
   * no netem (see `netemUnavailableReason`).
   */
  setDelay(host: string, ms: number): void;
  /**
   * Takes the host's link down at the hub (`ip link set … down`), like a cut cable: its packets vanish,
   * no reset or ICMP error reaches anyone; `true` puts it back.
   */
  setLink(host: string, up: boolean): void;
  /** Deletes every namespace and veth of the topology (and with them any qdisc); safe to call twice. */
  destroy(): void;
}

export interface NetnsOptions {
  /**
   * Hosts whose every sent packet is delayed by this many ms from the start (see `setDelay`). Where the
   * kernel has no netem such a host is linked to the hub by two TAP devices and `delay-link.py`, which
   * copies frames between them and holds the host's for the delay, instead of by a veth pair.
   */
  delays?: Record<string, number>;
}

export interface NetnsHost {
  /** Namespace name, `ef-<tag>-<host>`. */
  netns: string;
  address: string;
  /** The hub side of the host's veth (in the hub namespace). */
  hubVeth: string;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

function tc(netns: string, ...args: string[]): void {
  execFileSync('ip', ['netns', 'exec', netns, 'tc', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 10_000,
  });
}

function ipOutput(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
}

/** Why namespace tests cannot run here (not root, no `ip netns`), or undefined when they can. */
export function netnsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as root, as CI does)';
  const probe = `ef-probe-${randomBytes(3).toString('hex')}`;
  try {
    ip('netns', 'add', probe);
    ip('-n', probe, 'link', 'set', 'lo', 'up');
    ip('-n', probe, 'link', 'add', 'br0', 'type', 'bridge');
  } catch (error) {
    return `\`ip netns\` does not work here: ${String(error).split('\n')[0]}`;
  } finally {
    try {
      ip('netns', 'del', probe);
    } catch {
      // it was never created
    }
  }
  return undefined;
}

/** Why `tc netem` link delays cannot be used here (no `tc`, a kernel without netem), or undefined when they can. */
export function netemUnavailableReason(): string | undefined {
  const reason = netnsUnavailableReason();
  if (reason !== undefined) return reason;
  const probe = `ef-probe-${randomBytes(3).toString('hex')}`;
  try {
    ip('netns', 'add', probe);
    ip('-n', probe, 'link', 'set', 'lo', 'up');
    tc(probe, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms');
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return `\`tc qdisc … netem\` does not work here (a kernel without CONFIG_NET_SCH_NETEM?): ${
      stderr || String(error).split('\n')[0]
    }`;
  } finally {
    try {
      ip('netns', 'del', probe);
    } catch {
      // it was never created
    }
  }
  return undefined;
}

/** IPv4 networks (address/length) and single addresses the root namespace has routes or addresses for. */
function usedNetworks(): { base: number; bits: number }[] {
  const text = `${ipOutput('-4', 'route', 'show', 'table', 'all')}\n${ipOutput('-4', 'addr')}`;
  const toInt = (dotted: string) => dotted.split('.').reduce((value, part) => value * 256 + Number(part), 0);
  return [...text.matchAll(/\b(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?\b/g)]
    .map((m) => ({ base: toInt(m[1]!), bits: m[2] === undefined ? 32 : Number(m[2]) }))
    .filter((n) => n.bits > 0);
}

/** A 10.x.y prefix whose /24 no address or route of the root namespace overlaps. */
function freePrefix(): string {
  const used = usedNetworks();
  for (let attempt = 0; attempt < 100; attempt++) {
    const [x, y] = [randomInt(16, 250), randomInt(1, 250)];
    const base = (10 * 256 + x) * 256 * 256 + y * 256;
    const overlaps = used.some((n) => {
      const bits = Math.min(n.bits, 24);
      const size = 2 ** (32 - bits);
      return Math.floor(n.base / size) === Math.floor(base / size);
    });
    if (!overlaps) return `10.${x}.${y}`;
  }
  throw new Error('no free 10.x.y.0/24 subnet found for the test network');
}

/**
 * Builds the topology: hosts[name] gets address `${prefix}.${hostNumbers[name]}`. On any error the
 * part already built is deleted before the error is thrown.
 */
export function createNetnsTopology(
  hostNumbers: Record<string, number>,
  options: NetnsOptions = {},
): NetnsTopology {
  const tag = randomBytes(2).toString('hex');
  const prefix = freePrefix();
  const hub = `ef-${tag}-hub`;
  const rootVeth = `ef${tag}r`;
  const namespaces: string[] = [];
  const delays = options.delays ?? {};
  const delayMethod =
    Object.keys(delays).length === 0 ? null : netemUnavailableReason() === undefined ? 'netem' : 'user-space';
  const links = new Map<string, DelayLink>();
  const destroy = () => {
    for (const link of links.values()) link.process.kill('SIGKILL');
    links.clear();
    for (const netns of namespaces.splice(0).reverse()) {
      try {
        ip('netns', 'del', netns); // deletes the veths inside, and with them their peers
      } catch {
        // already gone
      }
    }
    try {
      ip('link', 'del', rootVeth);
    } catch {
      // went with the hub namespace
    }
  };
  const hosts: Record<string, NetnsHost> = {};
  try {
    ip('netns', 'add', hub);
    namespaces.push(hub);
    ip('-n', hub, 'link', 'set', 'lo', 'up');
    ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', hub, 'link', 'set', 'br0', 'up');

    ip('link', 'add', rootVeth, 'type', 'veth', 'peer', 'name', `${rootVeth}b`);
    ip('link', 'set', `${rootVeth}b`, 'netns', hub);
    ip('-n', hub, 'link', 'set', `${rootVeth}b`, 'master', 'br0', 'up');
    ip('addr', 'add', `${prefix}.1/24`, 'dev', rootVeth);
    ip('link', 'set', rootVeth, 'up');

    for (const [name, number] of Object.entries(hostNumbers)) {
      const netns = `ef-${tag}-${name}`;
      const veth = `ef${tag}h${number}`;
      ip('netns', 'add', netns);
      namespaces.push(netns);
      ip('-n', netns, 'link', 'set', 'lo', 'up');
      const delayMs = delays[name];
      const userSpace = delayMs !== undefined && delayMethod === 'user-space';
      if (userSpace) {
        ip('tuntap', 'add', 'dev', veth, 'mode', 'tap');
        ip('tuntap', 'add', 'dev', `${veth}b`, 'mode', 'tap');
      } else ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}b`);
      ip('link', 'set', veth, 'netns', netns);
      ip('link', 'set', `${veth}b`, 'netns', hub);
      ip('-n', hub, 'link', 'set', `${veth}b`, 'master', 'br0', 'up');
      ip('-n', netns, 'link', 'set', veth, 'name', 'eth0');
      ip('-n', netns, 'addr', 'add', `${prefix}.${number}/24`, 'dev', 'eth0');
      ip('-n', netns, 'link', 'set', 'eth0', 'up');
      hosts[name] = { netns, address: `${prefix}.${number}`, hubVeth: `${veth}b` };
      if (userSpace) links.set(name, startDelayLink(netns, hub, `${veth}b`, delayMs));
      else if (delayMs !== undefined) netemDelay(netns, delayMs);
    }
  } catch (error) {
    destroy();
    throw error;
  }
  const hostNamed = (name: string): NetnsHost => {
    const host = hosts[name];
    if (host === undefined) throw new Error(`no host ${name} in the topology`);
    return host;
  };
  const setDelay = (name: string, ms: number) => {
    const { netns } = hostNamed(name);
    const link = links.get(name);
    if (link) link.process.stdin!.write(`${ms}\n`);
    else netemDelay(netns, ms);
  };
  const setLink = (name: string, up: boolean) =>
    ip('-n', hub, 'link', 'set', hostNamed(name).hubVeth, up ? 'up' : 'down');
  const ready = Promise.all([...links.values()].map((link) => link.attached)).then(() => undefined);
  return {
    tag,
    prefix,
    clientAddress: `${prefix}.1`,
    hosts,
    hub,
    delayMethod,
    ready,
    setDelay,
    setLink,
    destroy,
  };
}

/** `tc netem` delay on the host's interface (0: none). */
function netemDelay(netns: string, ms: number): void {
  if (ms > 0) tc(netns, 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', 'delay', `${ms}ms`);
  else {
    try {
      tc(netns, 'qdisc', 'del', 'dev', 'eth0', 'root');
    } catch {
      // no delay was set
    }
  }
}

interface DelayLink {
  process: ChildProcess;
  /** Resolves when the link passes frames; rejects if it ends first. */
  attached: Promise<void>;
}

const delayLinkScript = fileURLToPath(new URL('./delay-link.py', import.meta.url));

/** Starts `delay-link.py` between the host's TAP (its eth0) and the hub's. */
function startDelayLink(netns: string, hub: string, hubTap: string, delayMs: number): DelayLink {
  const child = spawn('python3', [delayLinkScript, netns, 'eth0', hub, hubTap, String(delayMs)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const attached = new Promise<void>((resolve, reject) => {
    const onData = (text: string) => {
      output += text;
      if (output.includes('attached')) resolve();
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`delay link for ${netns} ended (${signal ?? code}): ${output.trim()}`)),
    );
  });
  attached.catch(() => undefined); // observed through `ready`
  child.stdin!.on('error', () => undefined); // a link that ended: its exit already rejected `attached`
  return { process: child, attached };
}
