import type { IncomingMessage, ServerResponse } from 'node:http';
import { instanceBaseUrl } from '../../spec/route-table.js';
import type { Logger } from '../../telemetry/logger.js';
import type { InstanceLoads } from './instance-loads.js';
import type { InstanceLogs } from './instance-logs.js';
import type { NodeEngines } from './node-engines.js';
import { parseWith, readJsonBody } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';
import {
  heartbeatRequestSchema,
  registerRequestSchema,
  type DesiredInstance,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterResponse,
} from '../../spec/worker-protocol.js';
import type { Store } from '../../store/store.js';
import type { StoredNode } from '../../store/store-types.js';
import { requireNode } from './authenticate.js';
import { instanceNodes } from './scheduler-input.js';
import { newSecret } from './secrets.js';
import { hashSecret } from '../../http/bearer-secret.js';

export interface WorkerContext {
  store: Store;
  log: Logger;
  maxBodyBytes: number;
  /** Context tokens an instance is started with. */
  contextTokens: number;
  now: () => number;
  onChange?: () => void;
  /** Where reported engine loads go (for the route table). */
  loads?: InstanceLoads;
  /** Where reported engine log tails go (for `GET /api/v1/instances/:id/logs`). */
  logs?: InstanceLogs;
  /** Where the number of engines each node reports goes (for `edgefleet nodes drain --wait`). */
  nodeEngines?: NodeEngines;
}

/** Handles `/api/v1/worker/{register,heartbeat}`; `path` is the part after `/api/v1/worker/`. */
export async function handleWorker(
  ctx: WorkerContext,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
): Promise<void> {
  if (path !== 'register' && path !== 'heartbeat') {
    throw new EdgeFleetError('not_found', `no route /api/v1/worker/${clipped(path)}`);
  }
  if (request.method !== 'POST') {
    throw methodNotAllowed(request.method ?? '', `/api/v1/worker/${path}`, ['POST']);
  }
  if (path === 'register') return sendJson(response, 200, await register(ctx, request));
  const node = await requireNode(ctx.store, request);
  const body = parseWith(heartbeatRequestSchema, await readJsonBody(request, ctx.maxBodyBytes));
  return sendJson(response, 200, await heartbeat(ctx, node, body));
}

async function register(ctx: WorkerContext, request: IncomingMessage): Promise<RegisterResponse> {
  const body = parseWith(registerRequestSchema, await readJsonBody(request, ctx.maxBodyBytes));
  const { store } = ctx;
  const consumed = await store.consumeJoinToken(hashSecret(body.joinToken));
  if (!consumed.ok) {
    throw new EdgeFleetError('unauthorized', `join token rejected (${consumed.reason})`, {
      data: { reason: consumed.reason },
    });
  }
  const credential = newSecret('node');
  const node = await store.withTransaction(async (tx) => {
    const site = await tx.upsertSite({ name: body.site, region: body.region ?? null });
    // Same site and name: the node re-registers (a fresh credential, the old one stops working).
    const previous = (await tx.listNodes({ siteId: site.id })).find(
      (n) => n.name === body.name && n.revokedAtMs === null,
    );
    const devices = body.devices.map((d) => ({ ...d, hardwareId: d.hardwareId ?? null }));
    const maxIndex = devices.reduce((max, d) => Math.max(max, d.index), -1);
    if (!devices.some((d) => d.kind === 'cpu')) {
      devices.push({
        index: maxIndex + 1,
        vendor: 'cpu',
        kind: 'cpu',
        name: body.cpu.model ?? 'CPU',
        memoryBytes: body.cpu.memoryBytes,
        hardwareId: null,
      });
    }
    return tx.registerNode({
      ...(previous && previous.revokedAtMs === null && { id: previous.id }),
      siteId: site.id,
      name: body.name,
      address: body.address,
      credentialHash: hashSecret(credential),
      labels: body.labels ?? {},
      devices,
      atMs: ctx.now(),
    });
  });
  ctx.log.info({ nodeId: node.id, name: node.name, site: body.site }, 'node registered');
  ctx.onChange?.();
  return { nodeId: node.id, siteId: node.siteId, credential };
}

async function heartbeat(
  ctx: WorkerContext,
  node: StoredNode,
  body: HeartbeatRequest,
): Promise<HeartbeatResponse> {
  const { store } = ctx;
  const engines = body.instances.filter((r) => r.state !== 'failed' && r.state !== 'stopped').length;
  ctx.nodeEngines?.record(node.id, engines, body.leaving === true);
  if (body.leaving === true) {
    // Down now, not after the heartbeat timeout: the reconciler places its instances elsewhere and the
    // route table drops them; the worker's engines finish what they are answering meanwhile, and its
    // last leaving heartbeat, once they stopped, reports none.
    await store.setNodeStatus(node.id, 'down', 'left');
    if (node.status === 'up') {
      ctx.log.info({ nodeId: node.id, name: node.name, engines }, 'node left: its worker is shutting down');
      ctx.onChange?.();
    }
    return { nodeId: node.id, instances: [] };
  }
  const wasDown = node.status === 'down';
  await store.recordHeartbeat(node.id, ctx.now());
  if (wasDown) {
    ctx.log.info({ nodeId: node.id }, 'node is back up');
    ctx.onChange?.();
  }
  for (const report of body.instances) {
    // Up to 3 tries: a concurrent writer (the reconciler) may have bumped the version.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const instance = await store.getInstance(report.id);
      if (!instance || instance.nodeId !== node.id) break;
      if (report.load && report.state === 'running') ctx.loads?.record(report.id, report.load, ctx.now());
      if (report.logTail && attempt === 0) ctx.logs?.record(report.id, report.logTail, ctx.now());
      try {
        await store.updateInstance(instance.id, instance.version, {
          state: report.state,
          ...(report.port !== undefined && { port: report.port }),
          ...(report.error !== undefined && { lastError: report.error }),
          ...(report.restarts !== undefined && { restarts: report.restarts }),
          ...(report.downloadProgress && {
            downloadedBytes: report.downloadProgress.downloadedBytes,
            downloadTotalBytes: report.downloadProgress.totalBytes ?? null,
          }),
        });
        break;
      } catch (error) {
        if (!(error instanceof EdgeFleetError && error.code === 'conflict')) throw error;
      }
    }
  }
  return { nodeId: node.id, instances: await desiredInstances(ctx, node.id) };
}

/**
 * What the node should run: the instances it heads and those it serves as another node of a multi-node
 * instance (with its rank and the head's address), not stopped, with the model each was placed to run.
 */
export async function desiredInstances(ctx: WorkerContext, nodeId: string): Promise<DesiredInstance[]> {
  const [instances, deploymentList, nodes] = await Promise.all([
    ctx.store.listInstances(),
    ctx.store.listDeployments(),
    ctx.store.listNodes(),
  ]);
  const deployments = new Map(deploymentList.map((d) => [d.id, d]));
  const addresses = new Map(nodes.map((n) => [n.id, n.address]));
  const desired: DesiredInstance[] = [];
  for (const instance of instances) {
    if (instance.nodeId === null) continue;
    const group = instanceNodes(instance);
    const rank = group.indexOf(nodeId);
    if (rank < 0) continue;
    const deployment = deployments.get(instance.deploymentId);
    if (!deployment || deployment.status === 'deleting') continue;
    if (instance.state === 'stopping' || instance.state === 'stopped') continue;
    const mine = instance.allocations.filter((a) => (a.nodeId ?? instance.nodeId) === nodeId);
    // What it was placed to run: an older revision's keeps running it while the new one rolls out.
    const runs = instance.launchSpec ?? deployment;
    desired.push({
      id: instance.id,
      deploymentId: deployment.id,
      modelRef: runs.modelRef,
      servedName: deployment.name,
      engine: instance.engine,
      ...(runs.quant !== null && { quant: runs.quant }),
      deviceIndexes: mine.map((a) => a.deviceIndex),
      contextTokens: runs.contextTokens ?? ctx.contextTokens,
      ...(instance.engineKey !== null && { engineKey: instance.engineKey }),
      ...(group.length > 1 && {
        // Tensor parallel inside each node, pipeline parallel across nodes (vLLM's advice for multi-node).
        tensorParallelSize: mine.length,
        pipelineParallelSize: group.length,
        multiNode: {
          nodeCount: group.length,
          nodeRank: rank,
          masterAddr: hostOf(addresses.get(instance.nodeId) ?? '127.0.0.1'),
          masterPort: rendezvousPort(instance.id),
        },
      }),
    });
  }
  return desired;
}

/** A stable port in 29500–29999 for the ranks of one multi-node instance to meet at on the head node. */
function rendezvousPort(instanceId: string): number {
  let hash = 0;
  for (const char of instanceId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return 29500 + (hash % 500);
}

/** The host part of a node address (`host`, `host:port`, `[v6]:port`). */
function hostOf(address: string): string {
  return new URL(instanceBaseUrl(address, 1)).hostname.replace(/^\[|\]$/g, '');
}
