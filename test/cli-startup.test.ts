/**
 * What the long-running commands load when they start: the packages only some runs need stay unloaded
 * until used (node-llama-cpp by the engine process alone, the Redis client with `--redis`, each database
 * client with its store), so a worker, `up`, a server or a room gateway starts in a fraction of a second.
 * Records every module the ESM loader resolves while `dist/cli/<command>.js` is imported.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath } from './helpers/edgefleet-process.js';

const lazyPackages = ['node-llama-cpp', 'redis', 'pg', 'better-sqlite3'];

/** The module URLs resolved while `dist/cli/<command>.js` is imported. */
async function resolvedOnImport(dir: string, command: string): Promise<string[]> {
  const trace = join(dir, `${command}.trace`);
  const module = pathToFileURL(join(binPath, '..', '..', 'dist', 'cli', `${command}.js`)).href;
  await promisify(execFile)(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(dir, 'register.mjs')).href,
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(module)})`,
    ],
    { env: { ...process.env, TRACE_FILE: trace } },
  );
  return (await readFile(trace, 'utf8')).split('\n').filter((line) => line !== '');
}

describe('what a command loads at start', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ef-startup-'));
    await writeFile(
      join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.TRACE_FILE, resolved.url + '\\n');
  return resolved;
}\n`,
    );
    await writeFile(
      join(dir, 'register.mjs'),
      `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`,
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each(['worker', 'up', 'server', 'gateway'])(
    '%s loads none of the packages only some runs need',
    async (command) => {
      const urls = await resolvedOnImport(dir, command);
      // The trace works: the command's own modules and the packages every run needs are in it.
      expect(urls.some((url) => url.endsWith(`/dist/cli/${command}.js`))).toBe(true);
      expect(urls.some((url) => url.includes('/node_modules/pino/'))).toBe(true);
      const loaded = lazyPackages.filter((name) =>
        urls.some((url) => url.includes(`/node_modules/${name}/`)),
      );
      expect(loaded).toEqual([]);
    },
  );

  it('the trace sees node-llama-cpp where it is needed: the engine process', async () => {
    const urls = await resolvedOnImport(dir, 'engine');
    expect(urls.some((url) => url.includes('/node_modules/node-llama-cpp/'))).toBe(true);
  });
});
