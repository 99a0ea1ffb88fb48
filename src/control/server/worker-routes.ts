import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../telemetry/logger.js';
import type { InstanceLoads } from './instance-loads.js';
import { parseWith, readJsonBody } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
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
import { hashSecret, newSecret } from './secrets.js';

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
}

/** Handles `/api/v1/worker/{register,heartbeat}`; `path` is the part after `/api/v1/worker/`. */
export async function handleWorker(
  ctx: WorkerContext,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
): Promise<void> {
  if (path !== 'register' && path !== 'heartbeat') {
    throw new EdgeFleetError('not_found', `no route /api/v1/worker/${path}`);
  }
  if (request.method !== 'POST') {
    throw new EdgeFleetError('method_not_allowed', `use POST /api/v1/worker/${path}`);
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

/** What the node should run: its instances that are not stopped, with their deployment's model. */
export async function desiredInstances(ctx: WorkerContext, nodeId: string): Promise<DesiredInstance[]> {
  const instances = await ctx.store.listInstances({ nodeId });
  const deployments = new Map((await ctx.store.listDeployments()).map((d) => [d.id, d]));
  const desired: DesiredInstance[] = [];
  for (const instance of instances) {
    const deployment = deployments.get(instance.deploymentId);
    if (!deployment || deployment.status === 'deleting') continue;
    if (instance.state === 'stopping' || instance.state === 'stopped') continue;
    desired.push({
      id: instance.id,
      deploymentId: deployment.id,
      modelRef: deployment.modelRef,
      servedName: deployment.name,
      engine: instance.engine,
      ...(deployment.quant !== null && { quant: deployment.quant }),
      deviceIndexes: instance.allocations.map((a) => a.deviceIndex),
      contextTokens: ctx.contextTokens,
    });
  }
  return desired;
}
