import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { modelCatalog } from '../../catalog/models/model-catalog.js';
import { readGgufModel } from '../../catalog/models/gguf-model.js';
import type { Deployment } from '../../store/store-types.js';
import type { SchedulerDeployment } from '../scheduler/scheduler-types.js';

export type ResolvedDeployment =
  { ok: true; deployment: SchedulerDeployment } | { ok: false; reason: string };

/**
 * Turns a stored deployment into the scheduler's input.
 * - A catalog id is passed as is.
 * - An absolute GGUF path readable by the control plane: its header gives the model spec and the exact
 *   weight bytes; engine llama.cpp unless the deployment names one, quant from the file.
 * - Anything else (URL, `hf:` reference, a path only the workers have): the size is unknown here, so the
 *   deployment stays pending with that reason.
 * Headers are read once per path (cached, also failures).
 */
export class ModelResolver {
  private readonly cache = new Map<string, Promise<ResolvedDeployment>>();

  async resolve(deployment: Deployment): Promise<ResolvedDeployment> {
    const base = {
      id: deployment.id,
      replicas: deployment.replicas,
      siteConstraints: deployment.siteConstraints,
      quant: deployment.quant,
      engine: deployment.engine,
    };
    const ref = deployment.modelRef;
    if (modelCatalog.some((m) => m.id === ref)) return { ok: true, deployment: { ...base, model: ref } };
    let gguf = this.cache.get(ref);
    if (!gguf) {
      gguf = readLocalGguf(ref);
      this.cache.set(ref, gguf);
    }
    const resolved = await gguf;
    if (!resolved.ok) return resolved;
    const fromFile = resolved.deployment;
    return {
      ok: true,
      deployment: {
        ...base,
        model: fromFile.model,
        engine: deployment.engine ?? 'llama.cpp',
        quant: deployment.quant ?? fromFile.quant ?? null,
        ...(fromFile.weightsBytes !== undefined && { weightsBytes: fromFile.weightsBytes }),
      },
    };
  }
}

async function readLocalGguf(ref: string): Promise<ResolvedDeployment> {
  if (
    !isAbsolute(ref) ||
    !(await stat(ref)
      .then((s) => s.isFile())
      .catch(() => false))
  ) {
    return {
      ok: false,
      reason: `model size unknown: "${ref}" is not a catalog id or a GGUF file the control plane can read, so it cannot be placed (give an absolute GGUF path present on the control plane)`,
    };
  }
  try {
    const gguf = await readGgufModel(ref);
    return {
      ok: true,
      deployment: {
        id: '',
        replicas: 0,
        model: gguf.model,
        quant: gguf.quantizationId ?? null,
        weightsBytes: gguf.weightsBytes,
      },
    };
  } catch (error) {
    return {
      ok: false,
      reason: `cannot read the GGUF header of ${ref}: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
