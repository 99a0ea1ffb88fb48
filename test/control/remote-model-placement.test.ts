import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGgufHeader } from '../../src/catalog/gguf/read-gguf-header.js';
import { readRemoteGgufHeader } from '../../src/control/server/read-remote-gguf-header.js';
import { remoteModelUrl } from '../../src/control/server/remote-model-url.js';
import { EdgeFleetError } from '../../src/spec/edgefleet-error.js';
import { makeTestModel, type TestModel } from '../helpers/models.js';
import { startModelFileServer, type ModelFileServer } from './model-file-server.js';
import { listOf, registerBody, startHarness, type Harness } from './server-harness.js';

/**
 * Deployments of https URLs and `hf:` refs are sized by the control plane from the GGUF header read over
 * HTTP (Range requests, capped), then placed; unreachable hosts, HTTP errors and non-GGUF files leave the
 * deployment pending with a reason that says so. All served by a local HTTP server on 127.0.0.1.
 */
const HF_TOKEN = 'hf_test_token';
const PLAIN_SIZE_BYTES = 1024 ** 3;
let model: TestModel;
let files: ModelFileServer;
let h: Harness;
let nodeId: string;
const savedEnv = { endpoint: process.env['HF_ENDPOINT'], token: process.env['HF_TOKEN'] };

beforeAll(async () => {
  model = await makeTestModel();
  files = await startModelFileServer(model.path, { hfToken: HF_TOKEN, plainSizeBytes: PLAIN_SIZE_BYTES });
  // The control server's resolver reads these once, when it is created.
  process.env['HF_ENDPOINT'] = `${files.baseUrl}/hf`;
  process.env['HF_TOKEN'] = HF_TOKEN;
  h = await startHarness();
  const registered = await h.call('POST', '/api/v1/worker/register', {
    key: null,
    body: registerBody(await h.newJoinToken(), 'gpu-1', 'room', 4),
  });
  expect(registered.status).toBe(200);
  nodeId = registered.body['nodeId'] as string;
});

afterAll(async () => {
  await h?.close();
  await files?.close();
  for (const [key, value] of [
    ['HF_ENDPOINT', savedEnv.endpoint],
    ['HF_TOKEN', savedEnv.token],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

/** Creates a deployment, runs a reconcile pass, returns it and its instances. */
async function deployAndReconcile(name: string, ref: string) {
  const created = await h.call('POST', '/api/v1/deployments', { body: { name, model: ref, replicas: 1 } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body['id'] as string;
  await h.control.reconcile();
  const deployment = (await h.call('GET', `/api/v1/deployments/${id}`)).body;
  const instances = listOf((await h.call('GET', `/api/v1/instances?deployment=${id}`)).body);
  return { deployment, instances };
}

describe('deployments of remote GGUF models', () => {
  it('places an https-style URL from a server that honours Range, reading only the header', async () => {
    const { deployment, instances } = await deployAndReconcile('ranged', `${files.baseUrl}/ranged/tiny.gguf`);
    expect(instances).toEqual([expect.objectContaining({ nodeId, engine: 'llama.cpp', state: 'scheduled' })]);
    expect(deployment['statusReason']).not.toMatch(/unknown|unplaced/);
    expect(files.ranges[0]).toBe(`bytes=0-${256 * 1024 - 1}`);
    expect(files.ranges).toHaveLength(1);
  });

  it('places a model from a server that ignores Range without reading the whole (1 GiB) body', async () => {
    const { instances } = await deployAndReconcile('plain', `${files.baseUrl}/plain/tiny.gguf`);
    expect(instances).toEqual([expect.objectContaining({ nodeId, state: 'scheduled' })]);
    // The control plane dropped the connection after the header; only socket buffers' worth went out.
    await files.plain.closed;
    expect(files.plain.bytesSent).toBeLessThan(16 * 1024 * 1024);
  });

  it('places an hf: reference under HF_ENDPOINT, sending HF_TOKEN', async () => {
    const { instances } = await deployAndReconcile('hf', 'hf:someone/tiny-GGUF/tiny.gguf');
    expect(instances).toEqual([expect.objectContaining({ nodeId, state: 'scheduled' })]);
    expect(files.hfAuthorizations).toEqual([`Bearer ${HF_TOKEN}`]);
  });

  it('keeps unreachable, missing and non-GGUF models pending with a clear reason', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const cases: [string, string, RegExp][] = [
      ['page', `${files.baseUrl}/page.html`, /not a GGUF file \(it starts with "<!do"\)/],
      ['missing', `${files.baseUrl}/ranged-nope/x.gguf`, /HTTP 404 \(no such file\)/],
      ['down', `http://127.0.0.1:${closedPort}/m.gguf`, /unreachable \(ECONNREFUSED\)/],
      ['http', 'http://example.com/m.gguf', /must be https/],
    ];
    for (const [name, ref, reason] of cases) {
      const { deployment, instances } = await deployAndReconcile(name, ref);
      expect(instances).toEqual([]);
      expect(deployment['status']).toBe('pending');
      expect(deployment['statusReason']).toMatch(/model size unknown: cannot read the GGUF header of/);
      expect(deployment['statusReason']).toMatch(reason);
    }
  });
});

describe('readRemoteGgufHeader', () => {
  it('grows the range until the header parses and gives the same header as the local reader', async () => {
    const before = files.ranges.length;
    const url = new URL(`${files.baseUrl}/ranged/tiny.gguf`);
    const remote = await readRemoteGgufHeader(url, { firstReadBytes: 64 });
    const local = await readGgufHeader(model.path);
    expect(remote.dataOffset).toBe(local.dataOffset);
    expect(remote.fileBytes).toBe(local.fileBytes);
    expect(remote.tensors.map((t) => t.name)).toEqual(local.tensors.map((t) => t.name));
    const asked = files.ranges.slice(before);
    expect(asked.length).toBeGreaterThan(1);
    expect(asked[0]).toBe('bytes=0-63');
    // Follow-ups fetch only what is missing.
    expect(asked[1]).toMatch(/^bytes=64-\d+$/);
    // A server that ignores Range: the one body is read on, in steps, to the same header.
    const plain = await readRemoteGgufHeader(new URL(`${files.baseUrl}/plain/tiny.gguf`), {
      firstReadBytes: 64,
    });
    expect(plain.dataOffset).toBe(local.dataOffset);
    expect(plain.fileBytes).toBe(PLAIN_SIZE_BYTES);
  });

  it('stops at the cap: a header larger than maxHeaderBytes is refused', async () => {
    for (const path of ['ranged', 'plain']) {
      const read = readRemoteGgufHeader(new URL(`${files.baseUrl}/${path}/tiny.gguf`), {
        firstReadBytes: 64,
        maxHeaderBytes: 1024,
      });
      await expect(read).rejects.toThrow(EdgeFleetError);
      await expect(read).rejects.toThrow(/GGUF header too large: it does not end within the 1024-byte limit/);
    }
  });

  it('times out on a server that never answers', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      await expect(
        readRemoteGgufHeader(new URL(`http://127.0.0.1:${port}/m.gguf`), { timeoutMs: 300 }),
      ).rejects.toThrow(/timed out/);
    } finally {
      silent.close();
    }
  });

  it('maps hf: refs to the resolve URL with the token, and refuses plain http to other hosts', () => {
    const mapped = remoteModelUrl('hf:user/repo@v1.0/sub dir/m-Q4_K_M.gguf', {
      hfEndpoint: 'https://mirror.example/',
      hfToken: 't',
    });
    expect(mapped.url.href).toBe('https://mirror.example/user/repo/resolve/v1.0/sub%20dir/m-Q4_K_M.gguf');
    expect(mapped.headers).toEqual({ authorization: 'Bearer t' });
    expect(mapped.name).toBe('m-Q4_K_M');
    expect(remoteModelUrl('hf:user/repo/m.gguf').url.href).toBe(
      'https://huggingface.co/user/repo/resolve/main/m.gguf',
    );
    expect(remoteModelUrl('https://host.example/a/m.gguf', { hfToken: 't' }).headers).toEqual({});
    expect(() => remoteModelUrl('hf:user/repo/../m.gguf')).toThrow(/invalid model ref/);
    expect(() => remoteModelUrl('hf:user/repo/m.bin')).toThrow(/invalid model ref/);
    expect(() => remoteModelUrl('http://10.0.0.1/m.gguf')).toThrow(/must be https/);
  });
});
