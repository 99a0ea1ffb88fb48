import { basename, dirname } from 'node:path';
import {
  hardwareFromInput,
  hardwareSpecInputSchema,
  type HardwareSpec,
} from '../catalog/hardware/hardware-spec.js';
import { readGgufModel } from '../catalog/models/gguf-model.js';
import { modelFromHfConfig } from '../catalog/models/hf-config-model.js';
import type { ModelSpec } from '../catalog/models/model-spec.js';
import { quantizationCatalog } from '../catalog/quantizations/quantization-catalog.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { readFlagFile } from './parse-flags.js';

/** A model chosen on the command line: a catalog id, or a spec read from a file (with exact bytes for GGUF). */
export interface ModelChoice {
  model: string | ModelSpec;
  weightsBytes?: number;
  /** The quantization a GGUF file declares (general.file_type), used when --quant is not given. */
  fileQuant?: string;
  /** The GGUF file's type when it matches no catalog quantization (e.g. ALL_F32), for the error. */
  fileTypeName?: string;
}

/** `--quant`, else the quantization a GGUF --model-file says it holds; an error that says which is missing. */
export function quantFor(flag: string | undefined, choice: ModelChoice, what: string): string {
  const quant = flag ?? choice.fileQuant;
  if (quant !== undefined) return quant;
  const file =
    choice.fileTypeName !== undefined
      ? `: the GGUF file's type ${choice.fileTypeName} is not a quantization the planner knows`
      : '';
  throw new EdgeFleetError(
    'invalid_argument',
    `--quant is required (${what})${file}; one of ${quantizationCatalog.map((q) => q.id).join(', ')}`,
    { param: 'quant' },
  );
}

/** Reads and parses a JSON file; a missing file or bad JSON becomes invalid_argument naming the flag. */
export async function readJsonFile(path: string, flag: string): Promise<unknown> {
  const text = await readFlagFile(path, flag);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new EdgeFleetError(
      'invalid_argument',
      `--${flag}: ${path} is not valid JSON: ${(error as Error).message}`,
      {
        param: flag,
      },
    );
  }
}

/** Exactly one of --model, --model-config, --model-file. */
export async function readModelChoice(values: {
  model?: string;
  'model-config'?: string;
  'model-file'?: string;
}): Promise<ModelChoice> {
  const given = [values.model, values['model-config'], values['model-file']].filter((v) => v !== undefined);
  if (given.length !== 1) {
    throw new EdgeFleetError(
      'invalid_argument',
      'give exactly one of --model ID, --model-config FILE, --model-file FILE',
      {
        param: 'model',
      },
    );
  }
  if (values.model !== undefined) return { model: values.model };
  if (values['model-config'] !== undefined) {
    const path = values['model-config'];
    const json = await readJsonFile(path, 'model-config');
    const id =
      basename(path) === 'config.json' ? basename(dirname(path)) : basename(path).replace(/\.json$/i, '');
    return { model: modelFromHfConfig(json, id || 'custom', path) };
  }
  const gguf = await readGgufModel(values['model-file']!);
  return {
    model: gguf.model,
    weightsBytes: gguf.weightsBytes,
    ...(gguf.quantizationId
      ? { fileQuant: gguf.quantizationId }
      : gguf.fileTypeName !== undefined && { fileTypeName: gguf.fileTypeName }),
  };
}

/** Exactly one of --hardware ID or --hardware-spec FILE (validated strictly with zod). */
export async function readHardwareChoice(values: {
  hardware?: string;
  'hardware-spec'?: string;
}): Promise<string | HardwareSpec> {
  if ((values.hardware === undefined) === (values['hardware-spec'] === undefined)) {
    throw new EdgeFleetError(
      'invalid_argument',
      'give exactly one of --hardware ID or --hardware-spec FILE',
      {
        param: 'hardware',
      },
    );
  }
  if (values.hardware !== undefined) return values.hardware;
  const path = values['hardware-spec']!;
  const parsed = hardwareSpecInputSchema.safeParse(await readJsonFile(path, 'hardware-spec'));
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new EdgeFleetError('invalid_argument', `--hardware-spec ${path}: ${problems.join('; ')}`, {
      param: 'hardware-spec',
      data: { problems },
    });
  }
  return hardwareFromInput(parsed.data);
}
