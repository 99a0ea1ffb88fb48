import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeModel } from '../src/catalog/gguf/make-model.js';
import { run as runModels } from '../src/cli/models.js';
import { run as runPull } from '../src/cli/pull.js';
import { EdgeFleetError } from '../src/spec/edgefleet-error.js';
import { createLogger } from '../src/telemetry/logger.js';
import {
  findCached,
  listCachedModels,
  pullModel,
  type PullModelOptions,
} from '../src/worker/models/model-cache.js';

// A real generated llama-architecture model (toy vocabulary), written once in beforeAll.
let MODEL: Buffer;
let MODEL_SHA: string;
const CUT_AT = 100_000;

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
}

/** What the test server does next; reset before each test. */
const behaviour = {
  cutFirstAt: null as number | null,
  ignoreRange: false,
  stallAfter: null as number | null,
  linkedEtag: '',
};
const seen: Seen[] = [];
let origin = '';
let cdnOrigin = '';
let hub: Server;
let cdn: Server;
let home: string;
const quiet = createLogger('pull-test');
quiet.level = 'silent';

function serveModel(req: { headers: IncomingHttpHeaders }, res: ServerResponse, body: Buffer, etag: string) {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = range && !behaviour.ignoreRange && req.headers['if-range'] === etag ? Number(range[1]) : 0;
  const headers: Record<string, string | number> = { etag, 'content-type': 'application/octet-stream' };
  if (start > 0) {
    res.writeHead(206, {
      ...headers,
      'content-length': body.length - start,
      'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
    });
  } else {
    res.writeHead(200, { ...headers, 'content-length': body.length });
  }
  const rest = body.subarray(start);
  if (behaviour.cutFirstAt !== null) {
    const cut = behaviour.cutFirstAt;
    behaviour.cutFirstAt = null;
    // Give the client time to take in every byte sent, so that exactly `cut` bytes reach the part file.
    res.write(rest.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 100));
    return;
  }
  if (behaviour.stallAfter !== null) {
    res.write(rest.subarray(0, behaviour.stallAfter)); // then nothing, ever
    return;
  }
  res.end(rest);
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgefleet-pull-model-'));
  const made = await makeModel(join(dir, 'tiny.gguf'));
  MODEL = await readFile(made.path);
  MODEL_SHA = createHash('sha256').update(MODEL).digest('hex');
  await rm(dir, { recursive: true, force: true });
  cdn = createServer((req, res) => {
    seen.push({ path: `cdn${req.url}`, headers: req.headers });
    serveModel(req, res, MODEL, '"cdn-v1"');
  });
  hub = createServer((req, res) => {
    const url = req.url ?? '';
    seen.push({ path: url, headers: req.headers });
    if (url === '/bartowski/Tiny-GGUF/resolve/main/tiny-Q8_0.gguf') {
      // Like huggingface.co for an LFS file: a redirect to the CDN, announcing the sha256 and size.
      res.writeHead(302, {
        location: `${cdnOrigin}/blobs/tiny?signature=abc`,
        'x-linked-etag': `"${behaviour.linkedEtag}"`,
        'x-linked-size': MODEL.length,
      });
      res.end();
    } else if (url === '/files/plain.gguf') {
      serveModel(req, res, MODEL, '"plain-v1"');
    } else if (url.startsWith('/gated/')) {
      res.writeHead(401, {
        'x-error-code': 'GatedRepo',
        'x-error-message': 'Access to model gated/m is restricted.',
      });
      res.end();
    } else if (url === '/files/truncated.gguf') {
      res.end(MODEL.subarray(0, 4096)); // right magic, but the tensors run past the end
    } else if (url === '/files/chunked.gguf') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: chunked encoding
      res.write(MODEL.subarray(0, CUT_AT));
      res.end(MODEL.subarray(CUT_AT));
    } else if (url === '/files/page.gguf') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><html><body>Please log in</body></html>'.repeat(50));
    } else {
      res.writeHead(404, { 'x-error-code': 'EntryNotFound' });
      res.end('Entry not found');
    }
  });
  [origin, cdnOrigin] = await Promise.all([listen(hub), listen(cdn)]);
});

afterAll(async () => {
  for (const server of [hub, cdn]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'edgefleet-pull-'));
  seen.length = 0;
  Object.assign(behaviour, { cutFirstAt: null, ignoreRange: false, stallAfter: null, linkedEtag: MODEL_SHA });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await rm(home, { recursive: true, force: true });
});

const HF_REF = 'hf:bartowski/Tiny-GGUF/tiny-Q8_0.gguf';
const pull = (extra: Partial<PullModelOptions> & { ref: string }) =>
  pullModel({ home, hfEndpoint: origin, logger: quiet, retryDelayMs: 0, ...extra });

async function leftovers(): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) await walk(join(dir, entry.name));
      else out.push(entry.name);
    }
  };
  await walk(join(home, 'models')).catch(() => undefined);
  return out;
}

describe('pullModel', () => {
  it('downloads an hf: ref through HF_ENDPOINT, follows the CDN redirect and verifies x-linked-etag', async () => {
    const progress: number[] = [];
    const result = await pull({
      ref: HF_REF,
      hfToken: 'secret',
      onProgress: (p) => progress.push(p.receivedBytes),
    });
    expect(result).toMatchObject({ sha256: MODEL_SHA, bytes: MODEL.length, fromCache: false });
    expect(result.path).toBe(join(home, 'models', 'hf', 'bartowski', 'Tiny-GGUF', 'main', 'tiny-Q8_0.gguf'));
    expect((await readFile(result.path)).equals(MODEL)).toBe(true);
    expect(progress.at(-1)).toBe(MODEL.length);
    // The token goes to the hub only, never to the CDN it redirects to.
    expect(seen.map((s) => [s.path.split('?')[0], s.headers.authorization])).toEqual([
      ['/bartowski/Tiny-GGUF/resolve/main/tiny-Q8_0.gguf', 'Bearer secret'],
      ['cdn/blobs/tiny', undefined],
    ]);
    const manifest = JSON.parse(await readFile(`${result.path}.json`, 'utf8'));
    expect(manifest).toMatchObject({ ref: HF_REF, sha256: MODEL_SHA, sizeBytes: MODEL.length });
    expect((await leftovers()).sort()).toEqual(['tiny-Q8_0.gguf', 'tiny-Q8_0.gguf.json']);

    const again = await pull({ ref: HF_REF });
    expect(again).toMatchObject({ path: result.path, sha256: MODEL_SHA, fromCache: true });
    expect(seen).toHaveLength(2);
    expect(await findCached(home, HF_REF)).toMatchObject({ path: result.path, sha256: MODEL_SHA });
  });

  it('downloads a plain URL and records its sha256', async () => {
    const result = await pull({ ref: `${origin}/files/plain.gguf` });
    expect(result.sha256).toBe(MODEL_SHA);
    expect(
      result.path.startsWith(join(home, 'models', 'url', origin.replace('http://', '').replace(':', '_'))),
    ).toBe(true);
    expect((await readFile(result.path)).equals(MODEL)).toBe(true);
    const listed = await listCachedModels(home);
    expect(listed).toEqual([
      expect.objectContaining({
        ref: `${origin}/files/plain.gguf`,
        path: result.path,
        sizeBytes: MODEL.length,
        sha256: MODEL_SHA,
      }),
    ]);
  });

  it('downloads a response without Content-Length (chunked)', async () => {
    const progress: Array<number | null> = [];
    const result = await pull({
      ref: `${origin}/files/chunked.gguf`,
      onProgress: (p) => progress.push(p.totalBytes),
    });
    expect((await readFile(result.path)).equals(MODEL)).toBe(true);
    expect(progress.every((total) => total === null)).toBe(true);
  });

  it('resumes a download cut halfway with a Range request', async () => {
    behaviour.cutFirstAt = CUT_AT;
    const failed = await pull({ ref: HF_REF, maxAttempts: 1 }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(EdgeFleetError);
    expect((failed as EdgeFleetError).code).toBe('download_failed');
    expect((failed as EdgeFleetError).isRetryable).toBe(true);
    const partPath = join(home, 'models', 'hf', 'bartowski', 'Tiny-GGUF', 'main', 'tiny-Q8_0.gguf.part');
    expect((await stat(partPath)).size).toBe(CUT_AT);
    expect(await findCached(home, HF_REF)).toBeNull();

    seen.length = 0;
    const result = await pull({ ref: HF_REF });
    const cdnRequest = seen.find((s) => s.path.startsWith('cdn'));
    expect(cdnRequest?.headers.range).toBe(`bytes=${CUT_AT}-`);
    expect(cdnRequest?.headers['if-range']).toBe('"cdn-v1"');
    expect((await readFile(result.path)).equals(MODEL)).toBe(true);
    expect(result.sha256).toBe(MODEL_SHA);
    expect(existsSync(partPath)).toBe(false);
  });

  it('retries a dropped connection within one pull, resuming where it stopped', async () => {
    behaviour.cutFirstAt = CUT_AT;
    const result = await pull({ ref: `${origin}/files/plain.gguf` });
    expect(seen.map((s) => s.headers.range)).toEqual([undefined, `bytes=${CUT_AT}-`]);
    expect((await readFile(result.path)).equals(MODEL)).toBe(true);
  });

  it('starts over when the server ignores Range and answers 200', async () => {
    behaviour.cutFirstAt = CUT_AT;
    behaviour.ignoreRange = true;
    const result = await pull({ ref: `${origin}/files/plain.gguf` });
    expect(seen[1]?.headers.range).toBe(`bytes=${CUT_AT}-`);
    expect((await readFile(result.path)).equals(MODEL)).toBe(true);
    expect(result.sha256).toBe(MODEL_SHA);
  });

  it('deletes the download on a checksum mismatch (--sha256 or x-linked-etag)', async () => {
    const wrong = 'ab'.repeat(32);
    await expect(pull({ ref: `${origin}/files/plain.gguf`, sha256: wrong })).rejects.toMatchObject({
      code: 'checksum_mismatch',
    });
    behaviour.linkedEtag = wrong;
    await expect(pull({ ref: HF_REF })).rejects.toMatchObject({ code: 'checksum_mismatch' });
    expect(await leftovers()).toEqual([]);
    expect(await listCachedModels(home)).toEqual([]);
  });

  it('refuses a file that is not GGUF (an HTML page) and leaves nothing behind', async () => {
    const error = await pull({ ref: `${origin}/files/page.gguf` }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'invalid_model_file' });
    expect((error as Error).message).toMatch(/not a GGUF model file.*HTML/);
    expect(await leftovers()).toEqual([]);
  });

  it('refuses a GGUF file whose header does not fit the file (truncated)', async () => {
    await expect(pull({ ref: `${origin}/files/truncated.gguf` })).rejects.toMatchObject({
      code: 'invalid_model_file',
    });
    expect(await leftovers()).toEqual([]);
  });

  it('says "not found on Hugging Face" for a 404', async () => {
    const ref = 'hf:nobody/missing/model.gguf';
    const error = await pull({ ref }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'download_not_found' });
    expect((error as Error).message).toContain(`not found on Hugging Face: ${ref}`);
    expect(seen).toHaveLength(1);
  });

  it('explains a 401 from a gated repository', async () => {
    const error = await pull({ ref: 'hf:gated/m/m.gguf' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'download_denied' });
    expect((error as Error).message).toMatch(
      /access denied on Hugging Face \(HTTP 401\).*set HF_TOKEN.*restricted/,
    );
  });

  it('adopts a file put into the cache by hand, hashing it once, without network access', async () => {
    const path = join(home, 'models', 'hf', 'bartowski', 'Tiny-GGUF', 'main', 'tiny-Q8_0.gguf');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, MODEL);
    expect(await findCached(home, HF_REF)).toMatchObject({ ref: HF_REF, path, sha256: null });
    const result = await pull({ ref: HF_REF });
    expect(result).toMatchObject({ path, sha256: MODEL_SHA, fromCache: true });
    expect(await findCached(home, HF_REF)).toMatchObject({ sha256: MODEL_SHA });
    expect(seen).toEqual([]);
  });

  it('downloads again when --sha256 disagrees with the cached copy', async () => {
    await pull({ ref: `${origin}/files/plain.gguf` });
    const wrong = 'cd'.repeat(32);
    await expect(pull({ ref: `${origin}/files/plain.gguf`, sha256: wrong })).rejects.toMatchObject({
      code: 'checksum_mismatch',
    });
    expect(seen).toHaveLength(2);
  });

  it('keeps the part when aborted, for a later resume', async () => {
    behaviour.stallAfter = 50_000;
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user pressed ctrl-c')), 300);
    const error = await pull({ ref: `${origin}/files/plain.gguf`, signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toBe('user pressed ctrl-c');
    expect(seen).toHaveLength(1);
    expect(await leftovers()).toEqual(expect.arrayContaining(['plain.gguf.part', 'plain.gguf.part.json']));
    expect(await leftovers()).not.toContain('plain.gguf.lock');
  });

  it('fails fast and clearly when nothing listens (offline)', async () => {
    const probe = createServer();
    const deadOrigin = await listen(probe);
    await new Promise((resolve) => probe.close(resolve));
    const startedMs = performance.now();
    const error = await pullModel({ home, ref: HF_REF, hfEndpoint: deadOrigin, logger: quiet }).catch(
      (e: unknown) => e,
    );
    expect(performance.now() - startedMs).toBeLessThan(2_000);
    expect(error).toMatchObject({
      code: 'download_failed',
      data: { unreachable: true, errno: 'ECONNREFUSED' },
    });
    expect((error as Error).message).toContain('cannot reach');
    expect((error as Error).message).toContain('set HF_ENDPOINT to a reachable mirror');
    // A plain URL has nothing to do with Hugging Face's mirrors.
    const plain = await pullModel({ home, ref: `${deadOrigin}/files/plain.gguf`, logger: quiet }).catch(
      (e: unknown) => e,
    );
    expect(plain).toMatchObject({ code: 'download_failed', data: { unreachable: true } });
    expect((plain as Error).message).toMatch(
      /cannot reach .*check the network connection, or put the model file/,
    );
  });

  it('fails a stalled download after the idle timeout and keeps the part for a resume', async () => {
    behaviour.stallAfter = 1_000;
    const error = await pull({ ref: `${origin}/files/plain.gguf`, idleTimeoutMs: 300, maxAttempts: 1 }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'download_failed', data: { idle: true } });
    expect(await leftovers()).toContain('plain.gguf.part');
  });

  it('lets two concurrent pulls of one file share a single download', async () => {
    const [a, b] = await Promise.all([pull({ ref: HF_REF }), pull({ ref: HF_REF })]);
    expect(a.path).toBe(b.path);
    expect([a.fromCache, b.fromCache].sort()).toEqual([false, true]);
    expect(seen.filter((s) => s.path.startsWith('cdn'))).toHaveLength(1);
  });

  it('refuses plain http to a non-loopback host without any network access', async () => {
    await expect(pull({ ref: 'http://example.com/model.gguf' })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });
});

describe('edgefleet pull / models (run)', () => {
  it('pull prints the path; models --json lists it', async () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await runPull([`${origin}/files/plain.gguf`, '--home', home, '--sha256', MODEL_SHA])).toBe(0);
    const path = String(stdout.mock.calls.at(-1)?.[0]).trim();
    expect((await readFile(path)).equals(MODEL)).toBe(true);

    stdout.mockClear();
    expect(await runModels(['--home', home, '--json'])).toBe(0);
    const listed = JSON.parse(stdout.mock.calls.map((call) => String(call[0])).join(''));
    expect(listed).toEqual([expect.objectContaining({ path, sha256: MODEL_SHA, sizeBytes: MODEL.length })]);

    stdout.mockClear();
    expect(await runModels(['--home', home])).toBe(0);
    expect(String(stdout.mock.calls[0]?.[0])).toMatch(
      /^REF +SIZE +SHA256 +PATH\n.* \d+\.\d [kM]B +[0-9a-f]{12} +\//,
    );
  });

  it('pull exits 2 on usage errors and 1 on download errors', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await runPull([])).toBe(2);
    expect(await runPull(['hf:a/b/c.gguf', '--bogus'])).toBe(2);
    expect(await runPull(['deepseek-r1-distil-qwen-7b', '--home', home])).toBe(2);
    expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(
      /"deepseek-r1-distil-qwen-7b" is neither an hf: ref, an http\(s\) URL nor a model id with a known GGUF build \([^)]*deepseek-r1-distill-qwen-7b/,
    );
    expect(await runPull([`${origin}/files/page.gguf`, '--home', home])).toBe(1);
    expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toContain('not a GGUF model file');
  });
});
