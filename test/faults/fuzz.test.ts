import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, startServer, stopTree, type FleetServer } from '../fleet/fleet-processes.js';

/**
 * A fuzz run against a real `edgefleet server` (gateway and management API in one process): 10,000+
 * malformed or hostile requests — bytes that are not JSON, bad UTF-8, JSON of the wrong shape or types,
 * huge numbers, deep nesting, bodies over the limit, bad credentials, wrong methods, and malformed HTTP on
 * raw sockets (header injection, bad request lines, huge headers). Every one must get a 4xx in the
 * documented error shape `{"error":{"message","type","param","code"}}`; the process must stay up and its
 * memory flat. The generators are seeded, so a failure names a reproducible request.
 */
const maxBodyBytes = 65_536;
const seed = 20261129;

interface FuzzRequest {
  method: string;
  path: string;
  auth: 'admin' | 'none' | 'bad';
  badAuth?: string;
  body?: Uint8Array;
  /** Why it is malformed (shown when it fails). */
  kind: string;
}

const inferencePaths = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings'];
/** POST routes whose bodies are validated, with the field each needs as a string. */
const managementPosts: [string, string][] = [
  ['/api/v1/deployments', 'name'],
  ['/api/v1/keys', 'name'],
  ['/api/v1/endpoints', 'model'],
  ['/api/v1/usage/events', 'events'],
  ['/api/v1/deployments/preview', 'name'],
  ['/api/v1/planner/estimate', 'model'],
  ['/api/v1/planner/recommend', 'hardware'],
];
const workerPosts = ['/api/v1/worker/register', '/api/v1/worker/heartbeat'];
const allPosts = [...inferencePaths, ...managementPosts.map(([path]) => path), ...workerPosts];

const utf8 = (text: string) => new TextEncoder().encode(text);
/** Any JSON that is not an object: arrays, numbers, strings, booleans, null. */
const nonObjectJson = fc.oneof(
  fc.array(fc.jsonValue(), { maxLength: 5 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
);
/** A value of the wrong type for a field that must be a (non-empty) string. */
const notAString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  fc.constant(''),
);
const hugeNumber = fc.constantFrom(
  '1e309',
  '-1e309',
  '1e308',
  '123456789012345678901234567890',
  '-0',
  '4e-400',
);

const bodies: fc.Arbitrary<{ body: Uint8Array; kind: string }> = fc.oneof(
  // Bytes that do not parse as JSON (random bytes almost never do; the filter makes sure).
  fc
    .uint8Array({ minLength: 1, maxLength: 600 })
    .filter((bytes) => {
      try {
        const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
        return typeof value !== 'object' || value === null || Array.isArray(value);
      } catch {
        return true;
      }
    })
    .map((body) => ({ body, kind: 'random bytes' })),
  nonObjectJson.map((value) => ({ body: utf8(JSON.stringify(value)), kind: 'JSON that is not an object' })),
  fc
    .record({ field: fc.constantFrom('model', 'name', 'events'), value: notAString })
    .map(({ field, value }) => ({
      body: utf8(
        JSON.stringify({ [field]: value, model: field === 'model' ? value : 42, name: 7, events: 'x' }),
      ),
      kind: `wrong type for ${field}`,
    })),
  hugeNumber.map((n) => ({
    body: utf8(`{"model":${n},"name":${n},"max_tokens":${n},"events":${n},"messages":${n},"hardware":${n}}`),
    kind: 'huge numbers',
  })),
  fc.integer({ min: 2_000, max: 30_000 }).map((depth) => ({
    body: utf8(`{"model":"m","name":${'['.repeat(depth)}${']'.repeat(depth)}}`),
    kind: `nesting ${depth} deep`,
  })),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((junk) => ({
    // Bytes 0x80-0xff alone are never valid UTF-8.
    body: new Uint8Array([...utf8('{"model":"'), 0xc3, 0x28, ...junk.map((b) => b | 0x80), ...utf8('"}')]),
    kind: 'bad UTF-8',
  })),
  fc.integer({ min: maxBodyBytes + 1, max: maxBodyBytes * 3 }).map((size) => ({
    body: utf8(`{"model":"m","pad":"${'a'.repeat(size)}"}`),
    kind: `body of ${size} bytes over the limit`,
  })),
  fc.constant({ body: new Uint8Array(0), kind: 'empty body' }),
);

const requests: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ path: fc.constantFrom(...allPosts), b: bodies }).map(({ path, b }) => ({
      method: 'POST',
      path,
      auth: 'admin' as const,
      ...b,
    })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        path: fc.constantFrom(
          ...allPosts,
          '/api/v1/deployments',
          '/api/v1/keys',
          '/api/v1/usage',
          '/v1/models',
        ),
        badAuth: fc.oneof(
          fc.constant(''),
          fc.constant('Bearer'),
          fc.constant('Bearer '),
          fc.constant('Basic YWRtaW46YWRtaW4='),
          fc.string({ maxLength: 80 }).map((s) => `Bearer ${s.replace(/[^\x21-\x7e]/g, 'x')}`),
          fc
            .string({ minLength: 200, maxLength: 4000 })
            .map((s) => `Bearer ${s.replace(/[^\x21-\x7e]/g, 'y')}`),
        ),
        method: fc.constantFrom('GET', 'POST', 'DELETE'),
      })
      .map(({ path, badAuth, method }) => ({
        method,
        path,
        auth: 'bad' as const,
        badAuth,
        ...(method === 'POST' && { body: utf8('{"model":"m","name":"n"}') }),
        kind: 'bad credential',
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        path: fc.constantFrom(
          ...inferencePaths,
          '/api/v1/deployments/none',
          '/api/v1/keys/none',
          '/v1/models',
        ),
        method: fc.constantFrom('PUT', 'PATCH', 'DELETE'),
      })
      .map(({ path, method }) => ({ method, path, auth: 'admin' as const, kind: 'wrong method' })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        base: fc.constantFrom('/api/v1/usage', '/api/v1/instances', '/api/v1/deployments/'),
        junk: fc.string({ maxLength: 40 }),
      })
      .map(({ base, junk }) => ({
        method: 'GET',
        path: `${base}${base.endsWith('/') ? encodeURIComponent(`x${junk}`) : `?from=${encodeURIComponent(junk)}&group_by=${encodeURIComponent(junk)}&deployment=%00`}`,
        auth: 'admin' as const,
        kind: 'bad query or id',
      })),
  },
);

/** Malformed HTTP, written to a raw socket: the server must answer 4xx (or close) and stay up. */
const rawRequests: string[] = [
  'GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n',
  'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{"a":1}',
  'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
  'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
  'GARBAGE\r\n\r\n',
  'GET /v1/models HTTP/9.9\r\nHost: x\r\n\r\n',
  `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Huge: ${'h'.repeat(20_000)}\r\n\r\n`,
  'GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n\tfolded\r\n\r\n',
  'GET /v1/mo dels HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n',
  'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
  'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n',
  '\x00\x01\x02\x03\r\n\r\n',
];

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
}

describe('fuzz: hostile requests to the gateway and the management API', () => {
  let home: string;
  let server: FleetServer;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'ef-fuzz-'));
    server = await startServer(home, ['--max-body-bytes', String(maxBodyBytes), '--reconcile-ms', '1000']);
  }, 30_000);

  afterAll(async () => {
    if (server) await stopTree(server);
    await rm(home, { recursive: true, force: true });
  });

  async function send(request: FuzzRequest): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (request.auth === 'admin') headers['authorization'] = `Bearer ${server.adminKey}`;
    if (request.auth === 'bad' && request.badAuth) headers['authorization'] = request.badAuth;
    const response = await fetch(`${server.url}${request.path}`, {
      method: request.method,
      headers,
      ...(request.body !== undefined && { body: request.body }),
    });
    return { status: response.status, text: await response.text() };
  }

  /** The documented error shape, or a description of what is wrong. */
  function errorShapeProblem(text: string): string | null {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return `not JSON: ${text.slice(0, 120)}`;
    }
    const error = (parsed as { error?: Record<string, unknown> }).error;
    if (typeof error !== 'object' || error === null) return `no error object: ${text.slice(0, 120)}`;
    if (typeof error['message'] !== 'string' || error['message'] === '') return 'no message';
    if (typeof error['type'] !== 'string') return 'no type';
    if (typeof error['code'] !== 'string') return 'no code';
    if (!('param' in error)) return 'no param';
    return null;
  }

  it('answers 10,000 hostile requests with 4xx errors in the documented shape, staying up with flat memory', async () => {
    const total = 10_000;
    const generated = fc.sample(requests, { numRuns: total, seed });
    const pid = server.child.pid!;
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let rssAfterWarmup = 0;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < total; i = next++) {
        const request = generated[i]!;
        const { status, text } = await send(request).catch((error: unknown) => ({
          status: 0,
          text: String(error),
        }));
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        const problem =
          status < 400 || status >= 500 ? `status ${status}: ${text.slice(0, 160)}` : errorShapeProblem(text);
        if (problem && failures.length < 20) {
          failures.push(`#${i} ${request.kind} ${request.method} ${request.path}: ${problem}`);
        }
        if (i === 2_000) rssAfterWarmup = rssBytes(pid);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const rssAtEnd = rssBytes(pid);
    const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    console.info(
      `fuzz: ${total} requests, statuses ${[...statuses].map(([s, n]) => `${s}×${n}`).join(' ')}; ` +
        `server RSS ${mb(rssAfterWarmup)} MB after 2,000, ${mb(rssAtEnd)} MB at the end`,
    );

    expect(failures, [...statuses].map(([s, n]) => `${s}: ${n}`).join(', ')).toEqual([]);
    expect(isAlive(pid)).toBe(true);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    // Flat: the last 8,000 requests grew the resident set by less than a fifth (and 40 MB).
    expect(rssAtEnd - rssAfterWarmup).toBeLessThan(Math.max(0.2 * rssAfterWarmup, 0) + 40 * 1024 * 1024);
    expect(rssAtEnd).toBeLessThan(rssAfterWarmup * 1.2 + 40 * 1024 * 1024);
  }, 240_000);

  it('answers malformed HTTP on raw sockets with 4xx in the error shape, and keeps serving', async () => {
    const { hostname, port } = new URL(server.url);
    for (const raw of rawRequests) {
      const answer = await new Promise<string>((resolve) => {
        const socket = connect(Number(port), hostname);
        let received = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => (received += chunk));
        socket.on('close', () => resolve(received));
        socket.on('error', () => resolve(received));
        socket.setTimeout(5_000, () => socket.destroy());
        socket.end(raw);
      });
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      // A request the parser rejects gets 400/431 with the error shape; one it takes as a request, 4xx.
      const what = `${JSON.stringify(raw.slice(0, 80))} → ${JSON.stringify(answer.slice(0, 300))}`;
      expect(status, what).toBeGreaterThanOrEqual(400);
      expect(status, what).toBeLessThan(500);
      expect(errorShapeProblem(answer.slice(answer.indexOf('\r\n\r\n') + 4).trim()), what).toBeNull();
    }
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  }, 60_000);
});
