import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { createLogger } from '../telemetry/logger.js';
import { ggufRefFor, modelIdsWithGguf } from '../catalog/gguf-sources.js';
import { pullModel, resolveHome, DEFAULT_MODEL_REF } from '../worker/models/model-cache.js';
import { parseFlags } from './parse-flags.js';
import { downloadInterrupted, progressView } from './progress-view.js';

const HELP = `usage: edgefleet pull <ref> [--home DIR] [--sha256 HEX]

Downloads a GGUF model into the cache (<home>/models) and prints its path. An interrupted pull resumes
where it stopped when run again.

  <ref>          hf:<user>/<repo>[@<revision>]/<path/file.gguf>, an https:// URL, or a model id
                 such as deepseek-r1-distill-qwen-7b[:Q8_0]
                 e.g. ${DEFAULT_MODEL_REF}
  --home DIR     EdgeFleet home (default: $EDGEFLEET_HOME, else ~/.edgefleet)
  --sha256 HEX   expected sha256 of the file (default: the one Hugging Face announces)

Environment: HF_ENDPOINT (a Hugging Face mirror), HF_TOKEN (gated or private repositories).
`;

/** `edgefleet pull <ref> [--home DIR] [--sha256 HEX]`: downloads a model and prints its path on stdout. */
export async function run(args: string[]): Promise<number> {
  let values: { home?: string; sha256?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseFlags(
      args,
      { home: { type: 'string' }, sha256: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      true,
    ));
  } catch (error) {
    process.stderr.write(`edgefleet pull: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [named, ...extra] = positionals;
  if (named === undefined || extra.length > 0) {
    process.stderr.write(`edgefleet pull: expected exactly one model ref\n\n${HELP}`);
    return 2;
  }
  // A catalog id such as deepseek-r1-distill-qwen-7b[:Q8_0] names its GGUF build on Hugging Face.
  const [id = '', quant] = named.split(':');
  const isRef = /^(hf:|https?:)/i.test(named);
  const ref = isRef ? named : ggufRefFor(id, quant);
  if (ref === undefined) {
    process.stderr.write(
      `edgefleet pull: "${named}" is neither an hf: ref, an http(s) URL nor a model id with a known GGUF ` +
        `build (${modelIdsWithGguf().join(', ')})\n`,
    );
    return 2;
  }
  const logger = createLogger('pull');
  if (process.stderr.isTTY && process.env['EDGEFLEET_LOG_LEVEL'] === undefined) logger.level = 'warn';
  const view = progressView(ref, logger);
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await pullModel({
      home: resolveHome(values.home),
      ref,
      ...(values.sha256 !== undefined ? { sha256: values.sha256 } : {}),
      signal: controller.signal,
      onProgress: (progress) => view.update(progress),
      logger,
    });
    view.finish();
    if (result.fromCache) process.stderr.write(`already in the cache (sha256 ${result.sha256})\n`);
    process.stdout.write(`${result.path}\n`);
    return 0;
  } catch (error) {
    view.finish();
    if (controller.signal.aborted) {
      process.stderr.write(downloadInterrupted('pull'));
      return 130;
    }
    process.stderr.write(`edgefleet pull: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof EdgeFleetError && error.code === 'invalid_argument' ? 2 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
