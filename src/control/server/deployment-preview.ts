/**
 * `POST /api/v1/deployments/preview`: what `POST /api/v1/deployments` with the same body would do now,
 * without storing anything. The scheduler (pure) runs over the current fleet and instances as the
 * reconciler would, for this deployment alone; where the first replica lands on a device the planner
 * knows, the planner's estimate for that instance comes along.
 */
import { findEngine } from '../../catalog/engines/engine-catalog.js';
import { estimate, type Estimate } from '../../planner/estimate.js';
import { estimateDefaults, type EstimateInput } from '../../planner/estimate-input.js';
import type { CreateDeploymentRequest } from '../../spec/management-api.js';
import type { Store } from '../../store/store.js';
import type { Deployment, StoredDevice } from '../../store/store-types.js';
import { DeploymentProbe, resolveDevice } from '../scheduler/planner-probe.js';
import { schedule } from '../scheduler/schedule.js';
import type { Placement, SchedulerDeployment } from '../scheduler/scheduler-types.js';
import type { ModelResolver } from './model-resolver.js';
import { schedulerNodes } from './scheduler-input.js';

export interface DeploymentPreview {
  object: 'deployment_preview';
  fits: boolean;
  reasons: string[];
  estimate: Estimate | null;
  placements: {
    siteId: string;
    nodeId: string;
    deviceIndexes: number[];
    engine: string;
    perDeviceBytes: number;
    /** Every node of the instance with its devices (more than one for a multi-node instance). */
    nodes: { nodeId: string; deviceIndexes: number[] }[];
    why: string;
  }[];
}

export interface PreviewContext {
  store: Store;
  resolver: ModelResolver;
  /** Context tokens per instance, as the reconciler uses. */
  contextTokens: number;
  nowMs: number;
}

/** The id the previewed deployment has inside the dry run (no stored instance can carry it). */
const previewId = 'preview:not-stored';

/** The planner's estimate for the instance `placement` describes; null when its device is not in the catalog. */
function estimateOf(
  deployment: SchedulerDeployment,
  placement: Placement,
  devices: readonly StoredDevice[],
  defaultContextTokens: number,
): Estimate | null {
  const device = devices.find((d) => d.nodeId === placement.nodeId && d.index === placement.deviceIndexes[0]);
  if (!device) return null;
  const resolved = resolveDevice(device);
  if (!resolved.known) return null;
  const probe = new DeploymentProbe(deployment, defaultContextTokens);
  const input: EstimateInput = {
    model: probe.model,
    quant: probe.quant,
    engine: findEngine(placement.engine),
    hardware: resolved.hardware,
    count: placement.deviceCount,
    batch: estimateDefaults.batch,
    contextTokens: probe.contextTokens,
    promptTokens: estimateDefaults.promptTokens,
    outputTokens: estimateDefaults.outputTokens,
  };
  if (deployment.weightsBytes !== undefined) input.weightsBytes = deployment.weightsBytes;
  return estimate(input);
}

/**
 * Dry-runs the scheduler for a validated create body (`siteConstraints` already resolved to site ids).
 * `fits` is true when every replica can be placed on free devices now and the name is free.
 */
export async function previewDeployment(
  ctx: PreviewContext,
  body: CreateDeploymentRequest,
  siteConstraints: string[],
): Promise<DeploymentPreview> {
  const { store } = ctx;
  const reasons: string[] = [];
  if (await store.getDeploymentByName(body.name)) {
    reasons.push(`a deployment named "${body.name}" already exists`);
  }
  const asStored: Deployment = {
    id: previewId,
    name: body.name,
    modelRef: body.model,
    quant: body.quant ?? null,
    engine: body.engine ?? null,
    replicas: body.replicas,
    minReplicas: body.minReplicas ?? body.replicas,
    idleTimeoutMs: (body.idleTimeoutS ?? 600) * 1000,
    lastRequestAtMs: null,
    contextTokens: body.contextTokens ?? null,
    siteConstraints,
    revision: 1,
    status: 'pending',
    statusReason: null,
    createdAtMs: ctx.nowMs,
    updatedAtMs: ctx.nowMs,
  };
  const resolved = await ctx.resolver.resolve(asStored);
  if (!resolved.ok) {
    return {
      object: 'deployment_preview',
      fits: false,
      reasons: [...reasons, resolved.reason],
      estimate: null,
      placements: [],
    };
  }
  const [nodes, devices, instances] = await Promise.all([
    store.listNodes(),
    store.listDevices(),
    store.listInstances(),
  ]);
  const fleet = schedulerNodes(nodes, devices);
  const plan = schedule({
    deployments: [resolved.deployment],
    nodes: fleet,
    instances: instances.filter((i) => i.state !== 'failed' && i.state !== 'stopped'),
    contextTokens: ctx.contextTokens,
  });
  for (const pending of plan.pending) {
    reasons.push(
      `${pending.replicasMissing} of ${body.replicas} replica(s) cannot be placed now: ${pending.reason}`,
    );
  }
  const siteOf = new Map(fleet.map((n) => [n.id, n.siteId]));
  const first = plan.placements[0];
  return {
    object: 'deployment_preview',
    fits: reasons.length === 0,
    reasons,
    estimate: first ? estimateOf(resolved.deployment, first, devices, ctx.contextTokens) : null,
    placements: plan.placements.map((p) => ({
      siteId: siteOf.get(p.nodeId) ?? '',
      nodeId: p.nodeId,
      deviceIndexes: p.deviceIndexes,
      engine: p.engine,
      perDeviceBytes: p.perDeviceBytes,
      nodes: p.nodes,
      why: p.why,
    })),
  };
}
