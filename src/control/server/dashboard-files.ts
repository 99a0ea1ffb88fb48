/**
 * Serves the built web dashboard (`dist/web/`: index.html and content-hashed assets/) from the control
 * server. No credential is needed for these files; the page itself asks for the admin key. Paths are
 * confined to the build folder (after decoding and resolving symlinks); anything else is a 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';

/** Environment variable that points the server at another dashboard build (tests, packaging). */
export const webDirEnv = 'EDGEFLEET_WEB_DIR';

const contentTypes: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Cache forever: the build names every file under assets/ after a hash of its content. */
const immutable = 'public, max-age=31536000, immutable';

/**
 * The default build folder: `dist/web/` next to the compiled `dist/control/server/` (or, when running
 * from the TypeScript sources, `dist/web/` of the same checkout); `EDGEFLEET_WEB_DIR` overrides it.
 */
export function defaultWebDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[webDirEnv];
  if (fromEnv) return resolve(fromEnv);
  const here = fileURLToPath(new URL('.', import.meta.url));
  // dist/control/server → dist/web; src/control/server → dist/web when the sources run directly (vitest).
  return basename(resolve(here, '../..')) === 'src'
    ? resolve(here, '../../../dist/web')
    : resolve(here, '../../web');
}

export class DashboardFiles {
  constructor(private readonly webDir: string) {}

  /** Whether `path` is one the dashboard answers (`/`, `/index.html`, `/assets/…`, a top-level file). */
  handles(path: string): boolean {
    return path === '/' || path.startsWith('/assets/') || /^\/[^/]+\.[A-Za-z0-9]+$/.test(path);
  }

  /**
   * Answers a dashboard path: GET and HEAD only. `/` when there is no build is a 404 that says how to
   * make one; a missing or escaping path is a plain 404.
   */
  async serve(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const method = request.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      throw methodNotAllowed(method, path, ['GET', 'HEAD']);
    }
    const wantsIndex = path === '/' || path === '/index.html';
    const file = await this.find(wantsIndex ? '/index.html' : path);
    if (!file) {
      if (wantsIndex) {
        throw new EdgeFleetError(
          'not_found',
          `the dashboard is not built: run \`npm run build\` (it writes dist/web/), or set ${webDirEnv} to a built dashboard`,
        );
      }
      throw new EdgeFleetError('not_found', `no file ${clipped(path)}`);
    }
    const body = await readFile(file);
    response.writeHead(200, {
      'content-type': contentTypes[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': path.startsWith('/assets/') ? immutable : 'no-cache',
      'x-content-type-options': 'nosniff',
      // The page holds the admin key: no framing by other sites, no URL leaks in Referer.
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    });
    response.end(method === 'HEAD' ? undefined : body);
  }

  /** The real path of a regular file inside the build folder, or undefined. */
  private async find(path: string): Promise<string | undefined> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return undefined;
    }
    if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
    if (decoded.split('/').some((segment) => segment === '..')) return undefined;
    try {
      const root = await realpath(this.webDir);
      const file = await realpath(resolve(root, `.${decoded}`));
      const inside = relative(root, file);
      if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) return undefined;
      return (await stat(file)).isFile() ? file : undefined;
    } catch {
      return undefined;
    }
  }
}
