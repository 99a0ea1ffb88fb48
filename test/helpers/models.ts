import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeModel, type MadeModel } from '../../src/catalog/gguf/make-model.js';
import { resolveModelShape, type MakeModelOptions } from '../../src/catalog/gguf/model-shape.js';

/** A generated model for tests: its path and what greedy decoding answers (see src/catalog/gguf/make-model.ts). */
export type TestModel = MadeModel;

/** Where generated test models are cached: one file per (options, generator source) pair. */
export const testModelsDir = join(tmpdir(), 'edgefleet-test-models');

const generatorDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'catalog', 'gguf');
let generatorHash: Promise<string> | undefined;

/** A hash of the generator's source, so that a change to it never serves a stale cached model. */
function hashGenerator(): Promise<string> {
  generatorHash ??= (async () => {
    const hash = createHash('sha256');
    const files = (await readdir(generatorDir))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .sort();
    for (const file of files) hash.update(file).update(await readFile(join(generatorDir, file)));
    return hash.digest('hex');
  })();
  return generatorHash;
}

/**
 * Writes (or finds in the cache) a generated GGUF model and returns its path with the expected output:
 * `expectedText` after the embedded chat template's generation prompt, `fullChainText` after a prompt whose
 * last token is not part of the answer, and for `think: true` models `expectedReasoning`/`expectedContent`.
 * The same options give the same file, so repeated tests are fast; the cache lives under os.tmpdir().
 */
export async function makeTestModel(options: MakeModelOptions = {}): Promise<TestModel> {
  const { vocabCacheDir, ...rest } = options;
  const shape = resolveModelShape(rest);
  const key = createHash('sha256')
    .update(JSON.stringify(shape))
    .update(await hashGenerator())
    .digest('hex')
    .slice(0, 16);
  const path = join(testModelsDir, `${shape.vocab}-${shape.type}${shape.think ? '-think' : ''}-${key}.gguf`);
  const sidecar = `${path}.json`;
  if (existsSync(path) && existsSync(sidecar)) {
    return { ...(JSON.parse(await readFile(sidecar, 'utf8')) as TestModel), path };
  }
  await mkdir(testModelsDir, { recursive: true });
  const model = await makeModel(path, { ...rest, vocabCacheDir });
  const partial = `${sidecar}.${randomBytes(4).toString('hex')}`;
  await writeFile(partial, JSON.stringify(model));
  await rename(partial, sidecar);
  return model;
}
