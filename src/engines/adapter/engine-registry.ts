import { createEmbeddedAdapter } from '../embedded/embedded-adapter.js';
import { createLlamaServerAdapter } from '../llama-server/llama-server-adapter.js';
import { createMindieAdapter } from '../mindie/mindie-adapter.js';
import { createSglangAdapter } from '../sglang/sglang-adapter.js';
import { createVllmAdapter } from '../vllm/vllm-adapter.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { engineIds, type EngineAdapter, type EngineId, type EngineSupportQuery } from './engine-adapter.js';

/** Every adapter of this build, by id. The worker and scheduler look engines up only through this. */
export class EngineRegistry {
  private readonly adapters = new Map<EngineId, EngineAdapter>();

  constructor(adapters: readonly EngineAdapter[]) {
    for (const adapter of adapters) {
      if (adapter.apiVersion !== 1) {
        throw new EdgeFleetError(
          'internal_error',
          `engine ${adapter.id} speaks adapter API v${String(adapter.apiVersion)}`,
        );
      }
      this.adapters.set(adapter.id, adapter);
    }
  }

  has(id: string): id is EngineId {
    return this.adapters.has(id as EngineId);
  }

  get(id: string): EngineAdapter {
    const adapter = this.adapters.get(id as EngineId);
    if (!adapter) {
      throw new EdgeFleetError(
        'invalid_argument',
        `unknown engine "${id}" (known: ${this.ids().join(', ')})`,
        {
          param: 'engine',
        },
      );
    }
    return adapter;
  }

  ids(): EngineId[] {
    return engineIds.filter((id) => this.adapters.has(id));
  }

  /** Engines that can serve this model on this hardware, in preference order, with every refusal's reason. */
  candidates(query: EngineSupportQuery): { supported: EngineId[]; refused: Record<string, string> } {
    const supported: EngineId[] = [];
    const refused: Record<string, string> = {};
    for (const id of this.ids()) {
      const verdict = this.get(id).supports(query);
      if (verdict.supported) supported.push(id);
      else refused[id] = verdict.reason;
    }
    return { supported, refused };
  }
}

/**
 * The default registry. Preference order follows `engineIds`: embedded first for GGUF (no install),
 * then llama-server, vLLM, SGLang, MindIE, vLLM-Ascend.
 */
export function createEngineRegistry(
  options: { nodePath?: string; edgefleetBin?: string } = {},
): EngineRegistry {
  return new EngineRegistry([
    createEmbeddedAdapter({ nodePath: options.nodePath, binPath: options.edgefleetBin }),
    createLlamaServerAdapter(),
    createVllmAdapter('vllm'),
    createSglangAdapter(),
    createMindieAdapter(),
    createVllmAdapter('vllm-ascend'),
  ]);
}
