/**
 * The deployment `edgefleet up` serves: created on first start, kept across restarts with the same
 * model, replaced when `up` is started with another model. `<home>/up.json` remembers which deployment
 * `up` owns, so deployments made with `edgefleet deploy` are never touched.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { Store } from '../store/store.js';
import type { Deployment } from '../store/store-types.js';

interface UpState {
  deploymentId: string;
}

async function readUpState(home: string): Promise<UpState | null> {
  try {
    const parsed = JSON.parse(await readFile(join(home, 'up.json'), 'utf8')) as Partial<UpState>;
    return typeof parsed.deploymentId === 'string' ? { deploymentId: parsed.deploymentId } : null;
  } catch {
    return null;
  }
}

export async function ensureUpDeployment(
  store: Store,
  home: string,
  wanted: { name: string; modelRef: string },
): Promise<{ deployment: Deployment; created: boolean }> {
  const previous = await readUpState(home);
  const owned = previous ? await store.getDeployment(previous.deploymentId) : null;
  if (owned && owned.name === wanted.name && owned.modelRef === wanted.modelRef) {
    return { deployment: owned, created: false };
  }
  if (owned) await store.deleteDeployment(owned.id);
  const sameName = await store.getDeploymentByName(wanted.name);
  if (sameName && sameName.modelRef === wanted.modelRef) {
    await writeFile(join(home, 'up.json'), `${JSON.stringify({ deploymentId: sameName.id })}\n`);
    return { deployment: sameName, created: false };
  }
  if (sameName) {
    throw new EdgeFleetError(
      'conflict',
      `a deployment named "${wanted.name}" already serves ${sameName.modelRef}; start up with another --name`,
    );
  }
  const deployment = await store.createDeployment({
    name: wanted.name,
    modelRef: wanted.modelRef,
    replicas: 1,
    status: 'pending',
    statusReason: 'waiting for the scheduler',
  });
  await writeFile(join(home, 'up.json'), `${JSON.stringify({ deploymentId: deployment.id })}\n`);
  return { deployment, created: true };
}
