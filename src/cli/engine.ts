import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  defaultThreads,
  engineDefaults,
  engineKeyEnv,
  type EngineOptions,
} from '../engines/embedded/engine-options.js';
import { runEngine } from '../engines/embedded/run-engine.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { createLogger } from '../telemetry/logger.js';
import { intFlag, parseFlags, portFlag, whyUnreadable } from './parse-flags.js';
import { prefillChunkFlag, prefillChunkHelp } from './prefill-chunk-flag.js';

const help = `usage: edgefleet engine --model FILE.gguf [options]

Runs one embedded llama.cpp engine (normally started and supervised by \`edgefleet up\`).
  --model FILE        GGUF model file (required)
  --model-id ID       id clients use in "model" (default: file name without .gguf)
  --host H            address to bind (default ${engineDefaults.host})
  --port N            port (default 0: any free port, announced on stdout)
  --threads N         llama.cpp threads (default ${defaultThreads()} on this machine)
  --parallel N        parallel slots (default ${engineDefaults.parallel})
  --context N         context tokens per slot (default ${engineDefaults.contextSize})
  --batch N           batch size in tokens (default ${engineDefaults.batchSize})
  --prefill-chunk N|auto
                      ${prefillChunkHelp.replaceAll('\n', '\n                      ')}
  --gpu auto|cuda|vulkan|metal|false   compute backend (default auto)
  --max-body-bytes N  request body limit (default ${engineDefaults.maxBodyBytes})
  --meta JSON         extra facts for /v1/models

With $${engineKeyEnv} set, every route but /health requires "Authorization: Bearer <that key>"
(workers set it to the instance's engine key; an environment variable keeps it out of process lists).
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    model: { type: 'string' },
    'model-id': { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    threads: { type: 'string' },
    parallel: { type: 'string' },
    context: { type: 'string' },
    batch: { type: 'string' },
    'prefill-chunk': { type: 'string' },
    gpu: { type: 'string' },
    'max-body-bytes': { type: 'string' },
    meta: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (!values.model) throw new EdgeFleetError('invalid_argument', '--model is required');
  const gpu = values.gpu ?? engineDefaults.gpu;
  if (!['auto', 'cuda', 'vulkan', 'metal', 'false'].includes(gpu)) {
    throw new EdgeFleetError(
      'invalid_argument',
      `--gpu must be auto, cuda, vulkan, metal or false, got "${gpu}"`,
    );
  }
  const options: EngineOptions = Object.freeze({
    modelPath: values.model,
    modelId: values['model-id'] ?? basename(values.model).replace(/\.gguf$/i, ''),
    host: values.host ?? engineDefaults.host,
    port: portFlag(values.port, engineDefaults.port),
    threads: intFlag(values.threads, 'threads', defaultThreads()),
    parallel: intFlag(values.parallel, 'parallel', engineDefaults.parallel),
    contextSize: intFlag(values.context, 'context', engineDefaults.contextSize, 16),
    batchSize: intFlag(values.batch, 'batch', engineDefaults.batchSize),
    prefillChunk: prefillChunkFlag(values['prefill-chunk']),
    gpu: gpu === 'false' ? false : (gpu as EngineOptions['gpu']),
    maxBodyBytes: intFlag(values['max-body-bytes'], 'max-body-bytes', engineDefaults.maxBodyBytes, 1024),
    maxQueue: engineDefaults.maxQueue,
    meta: values.meta ? metaFlag(values.meta) : {},
    ...(process.env[engineKeyEnv] && { apiKey: process.env[engineKeyEnv] }),
  });
  await checkModelFile(options.modelPath);
  const log = createLogger('engine', { modelId: options.modelId });
  await runEngine(options, log);
  return await new Promise<number>(() => undefined); // runs until a signal stops the process
}

/** `--meta JSON`: an object of labels the worker passes to its engine. */
function metaFlag(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new EdgeFleetError('invalid_argument', `--meta must be a JSON object, got ${JSON.stringify(text)}`);
  }
  return parsed as Record<string, unknown>;
}

/** `--model`: a readable file, said before the engine listens rather than as a failed load after it. */
async function checkModelFile(path: string): Promise<void> {
  const found = await stat(path).catch((error: unknown) => new Error(whyUnreadable(error)));
  if (found instanceof Error)
    throw new EdgeFleetError('invalid_argument', `--model ${path}: ${found.message}`);
  if (!found.isFile()) throw new EdgeFleetError('invalid_argument', `--model ${path}: not a file`);
}
