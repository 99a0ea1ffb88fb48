/**
 * `edgefleet nodes cordon|drain|uncordon NODE`: PATCH /api/v1/nodes/:id with `maintenance`. `drain --wait`
 * follows the instances off the node until none is left.
 */
import { intFlag } from './parse-flags.js';
import {
  callApi,
  CliFailure,
  listRows,
  oneOperand,
  printJson,
  runManagementCommand,
  type Connection,
} from './management-client.js';

type Action = 'cordon' | 'drain' | 'uncordon';
const maintenanceOf = { cordon: 'cordoned', drain: 'draining', uncordon: null } as const;
const pollMs = 1000;

/** The node named by `operand`: its id, else its name (which must be unique). */
async function findNode(connection: Connection, operand: string): Promise<Record<string, unknown>> {
  const nodes = listRows(await callApi(connection, 'GET', 'nodes'));
  const byId = nodes.find((n) => n['id'] === operand);
  if (byId) return byId;
  const named = nodes.filter((n) => n['name'] === operand);
  if (named.length === 1) return named[0]!;
  if (named.length > 1) {
    const ids = named.map((n) => String(n['id'])).join(', ');
    throw new CliFailure(`${named.length} nodes are named "${operand}" (${ids}): give the node ID`);
  }
  throw new CliFailure(`no node "${operand}" (see edgefleet nodes)`);
}

/** The instances on `nodeId` now: their head node, or one of their allocations (multi-node). */
async function instancesOn(connection: Connection, nodeId: string) {
  return listRows(await callApi(connection, 'GET', 'instances')).filter(
    (i) =>
      i['nodeId'] === nodeId ||
      (Array.isArray(i['allocations']) &&
        i['allocations'].some((a) => (a as { nodeId?: unknown }).nodeId === nodeId)),
  );
}

/**
 * Engines the node's worker still runs: those of removed instances finishing their answers, or all of
 * them while a worker that shuts down stops them. 0 when the control plane cannot know (`engines` null:
 * not heard from since it started, or down without having left).
 */
async function enginesOn(connection: Connection, nodeId: string): Promise<number> {
  const node = listRows(await callApi(connection, 'GET', 'nodes')).find((n) => n['id'] === nodeId);
  return typeof node?.['engines'] === 'number' ? node['engines'] : 0;
}

/**
 * Waits until no instance is left on the node and its worker runs no engine (each finishes its answers
 * first); progress on stderr, a failure naming what is stuck.
 */
async function waitDrained(connection: Connection, node: { id: string; name: string }, timeoutS: number) {
  const deadline = Date.now() + timeoutS * 1000;
  let last = '';
  for (;;) {
    const left = await instancesOn(connection, node.id);
    const engines = left.length === 0 ? await enginesOn(connection, node.id) : 0;
    if (left.length === 0 && engines === 0) return;
    const progress =
      left.length > 0
        ? `${left.length} instance(s) left`
        : `${engines} engine(s) finishing their answers before they stop`;
    if (progress !== last) process.stderr.write(`draining ${node.name}: ${progress}\n`);
    last = progress;
    if (Date.now() >= deadline) {
      if (left.length === 0) {
        throw new CliFailure(`node ${node.name} still runs ${engines} engine(s) after ${timeoutS} s`);
      }
      const deployments = listRows(await callApi(connection, 'GET', 'deployments'));
      const stuck = [...new Set(left.map((i) => i['deploymentId']))].map((id) => {
        const d = deployments.find((x) => x['id'] === id);
        return `${String(d?.['name'] ?? id)}: ${String(d?.['statusReason'] ?? d?.['status'] ?? 'unknown')}`;
      });
      throw new CliFailure(
        `node ${node.name} still runs ${left.length} instance(s) after ${timeoutS} s; ${stuck.join('; ')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Runs `edgefleet nodes cordon|drain|uncordon`. */
export function runMaintenance(action: Action, help: string, args: string[]): Promise<number> {
  const extra: Record<string, { type: 'string' | 'boolean' }> =
    action === 'drain' ? { wait: { type: 'boolean' }, timeout: { type: 'string' } } : {};
  return runManagementCommand(
    `nodes ${action}`,
    help,
    args,
    extra,
    true,
    async ({ values, positionals }, connect) => {
      const operand = oneOperand(positionals, 'the node ID or name');
      if (values.timeout !== undefined && values.wait !== true) {
        throw new CliFailure('--timeout applies to --wait: give both', 2);
      }
      const timeoutS = intFlag(values.timeout as string | undefined, 'timeout', 600);
      const connection = await connect();
      const found = await findNode(connection, operand);
      const node = { id: String(found['id']), name: String(found['name']) };
      const body = await callApi(connection, 'PATCH', `nodes/${encodeURIComponent(node.id)}`, {
        maintenance: maintenanceOf[action],
      });
      const running = (body as { instances?: unknown }).instances;
      const count = Array.isArray(running) ? running.length : 0;
      if (values.json === true && values.wait !== true) {
        printJson(body);
        return 0;
      }
      if (values.json !== true) {
        const what = {
          cordon: `cordoned node ${node.name}: nothing new is placed on it; its ${count} instance(s) keep running`,
          drain: `draining node ${node.name}: ${count} instance(s) move to other nodes where they fit, each stopped once its replacement serves`,
          uncordon: `node ${node.name} is schedulable again`,
        }[action];
        process.stdout.write(`${what}\n`);
      }
      if (values.wait === true) {
        await waitDrained(connection, node, timeoutS);
        if (values.json === true) printJson({ ...(body as object), instances: [], engines: 0 });
        else process.stdout.write(`node ${node.name} is drained: nothing runs on it\n`);
      }
      return 0;
    },
  );
}
