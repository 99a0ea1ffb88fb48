import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { modelCatalog } from '../../catalog/models/model-catalog.js';
import { modelFromGgufHeader, readGgufModel, type GgufModel } from '../../catalog/models/gguf-model.js';
import type { Deployment } from '../../store/store-types.js';
import type { SchedulerDeployment } from '../scheduler/scheduler-types.js';
import { readRemoteGgufHeader } from './read-remote-gguf-header.js';
import { isRemoteModelRef, remoteModelUrl } from './remote-model-url.js';

export type ResolvedDeployment =
  { ok: true; deployment: SchedulerDeployment } | { ok: false; reason: string };

type ReadResult = { ok: true; gguf: GgufModel } | { ok: false; reason: string };

export interface ModelResolverOptions {
  /** Hugging Face endpoint for `hf:` refs (default $HF_ENDPOINT, else https://huggingface.co). */
  hfEndpoint?: string;
  /** Bearer token for `hf:` refs (default $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN). */
  hfToken?: string;
  /** Most GGUF header bytes read over HTTP (default 16 MiB). */
  maxHeaderBytes?: number;
  /** Timeout of one remote header read (default 30 s). */
  timeoutMs?: number;
  /** How long one `resolve()` waits for a read in progress before answering "still reading" (default 5 s). */
  waitMs?: number;
  /** A failed read is tried again after this long (default 60 s): the server may come back. */
  retryFailedMs?: number;
  now?: () => number;
}

interface CacheEntry {
  read: Promise<ReadResult>;
  result?: ReadResult;
  doneAtMs?: number;
  /** A resolve() already waited `waitMs` for this read. */
  waited?: boolean;
}

/** Refs whose header is kept: far more than a fleet deploys; the least recently resolved go first. */
export const maxResolvedRefs = 256;

const nonEmpty = (...values: (string | undefined)[]) => values.find((v) => v !== undefined && v !== '');
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Turns a stored deployment into the scheduler's input.
 * - A catalog id is passed as is.
 * - An absolute GGUF path readable by the control plane: its header gives the model spec and the exact
 *   weight bytes; engine llama.cpp unless the deployment names one, quant from the file.
 * - An https URL or an `hf:` reference: the same, from the header read over HTTP with Range requests
 *   (read-remote-gguf-header.ts), never the weights.
 * - Anything else (a path only the workers have): the size is unknown here, so the deployment stays pending
 *   with that reason.
 * Headers are read once per ref (cached, the `maxResolvedRefs` most recently resolved: previews and deleted
 * deployments do not pile up); a failed read is retried after `retryFailedMs`. A slow read does
 * not hold up reconcile passes: the pass that starts it waits at most `waitMs`, later ones not at all; the
 * deployment stays pending until the read finishes.
 */
export class ModelResolver {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly options: ModelResolverOptions;

  constructor(options: ModelResolverOptions = {}) {
    const env = process.env;
    const hfEndpoint = nonEmpty(options.hfEndpoint, env['HF_ENDPOINT']);
    const hfToken = nonEmpty(options.hfToken, env['HF_TOKEN'], env['HUGGING_FACE_HUB_TOKEN']);
    this.options = {
      ...options,
      ...(hfEndpoint !== undefined && { hfEndpoint }),
      ...(hfToken !== undefined && { hfToken }),
    };
  }

  async resolve(deployment: Deployment): Promise<ResolvedDeployment> {
    const base = {
      id: deployment.id,
      replicas: deployment.replicas,
      siteConstraints: deployment.siteConstraints,
      quant: deployment.quant,
      engine: deployment.engine,
      ...(deployment.contextTokens !== null && { contextTokens: deployment.contextTokens }),
    };
    const ref = deployment.modelRef;
    if (modelCatalog.some((m) => m.id === ref)) return { ok: true, deployment: { ...base, model: ref } };
    const read = await this.read(ref);
    if (!read.ok) return read;
    return {
      ok: true,
      deployment: {
        ...base,
        model: read.gguf.model,
        engine: deployment.engine ?? 'llama.cpp',
        quant: deployment.quant ?? read.gguf.quantizationId ?? null,
        weightsBytes: read.gguf.weightsBytes,
      },
    };
  }

  private async read(ref: string): Promise<ReadResult> {
    const now = this.options.now ?? Date.now;
    let entry = this.cache.get(ref);
    const retryMs = this.options.retryFailedMs ?? 60_000;
    if (entry?.result?.ok === false && now() - (entry.doneAtMs ?? 0) >= retryMs) entry = undefined;
    if (!entry) {
      const created: CacheEntry = {
        read: (isRemoteModelRef(ref) ? this.readRemote(ref) : readLocalGguf(ref)).then((result) => {
          created.result = result;
          created.doneAtMs = now();
          return result;
        }),
      };
      entry = created;
      if (this.cache.size >= maxResolvedRefs) this.cache.delete(this.cache.keys().next().value!);
    } else {
      this.cache.delete(ref);
    }
    this.cache.set(ref, entry);
    if (entry.result) return entry.result;
    // Only the pass that started the read waits for it; later passes answer "still reading" at once.
    const still: ReadResult = {
      ok: false,
      reason: `model size unknown yet: still reading the GGUF header of ${ref}`,
    };
    if (entry.waited) return still;
    entry.waited = true;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.options.waitMs ?? 5000);
      timer.unref();
    });
    const result = await Promise.race([entry.read, waited]);
    clearTimeout(timer);
    return result ?? still;
  }

  /** Refs cached (at most `maxResolvedRefs`). */
  get cachedRefs(): number {
    return this.cache.size;
  }

  private async readRemote(ref: string): Promise<ReadResult> {
    const unknown = `model size unknown: cannot read the GGUF header of ${ref}`;
    let target;
    try {
      target = remoteModelUrl(ref, { hfEndpoint: this.options.hfEndpoint, hfToken: this.options.hfToken });
    } catch (error) {
      return { ok: false, reason: `${unknown}: ${messageOf(error)}` };
    }
    const where = ref.startsWith('hf:') ? ` (${target.url.href})` : '';
    try {
      const header = await readRemoteGgufHeader(target.url, {
        headers: target.headers,
        ...(this.options.maxHeaderBytes !== undefined && { maxHeaderBytes: this.options.maxHeaderBytes }),
        ...(this.options.timeoutMs !== undefined && { timeoutMs: this.options.timeoutMs }),
      });
      return { ok: true, gguf: modelFromGgufHeader(header, target.name, `GGUF header of ${ref}`) };
    } catch (error) {
      return { ok: false, reason: `${unknown}${where}: ${messageOf(error)}` };
    }
  }
}

async function readLocalGguf(ref: string): Promise<ReadResult> {
  if (
    !isAbsolute(ref) ||
    !(await stat(ref)
      .then((s) => s.isFile())
      .catch(() => false))
  ) {
    return {
      ok: false,
      reason: `model size unknown: "${ref}" is not a catalog id, a GGUF file the control plane can read, an https URL or an hf: reference, so it cannot be placed (give an absolute GGUF path present on the control plane)`,
    };
  }
  try {
    return { ok: true, gguf: await readGgufModel(ref) };
  } catch (error) {
    return { ok: false, reason: `cannot read the GGUF header of ${ref}: ${messageOf(error)}` };
  }
}
