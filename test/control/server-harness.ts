import { afterAll } from 'vitest';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControlServer } from '../../src/control/server/control-server.js';
import { bootstrapSecrets, newSecret, rotateJoinToken } from '../../src/control/server/secrets.js';
import { hashSecret } from '../../src/http/bearer-secret.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { PostgresTestDatabases } from '../store/postgres-test-databases.js';

export type JsonObject = Record<string, unknown>;

/** `body.data` of a list response. */
export function listOf(body: JsonObject): JsonObject[] {
  return body['data'] as JsonObject[];
}

/** `body.error.code` of an error response. */
export function errorCode(body: JsonObject): string | undefined {
  return (body['error'] as { code?: string } | undefined)?.code;
}

export interface Harness {
  store: Store;
  control: ControlServer;
  home: string;
  baseUrl: string;
  adminKey: string;
  inferenceKey: string;
  /** The test clock (heartbeats and node timeout). */
  clock: { now: number };
  call(
    method: string,
    path: string,
    options?: { body?: unknown; raw?: string; key?: string | null },
  ): Promise<{ status: number; body: JsonObject }>;
  newJoinToken(): Promise<string>;
  close(): Promise<void>;
}

/**
 * A control server on 127.0.0.1:0 over a real store (SQLite in a temp dir unless `databaseUrl`);
 * `endpointsChanged` as ControlServerOptions has it.
 */
export async function startHarness(
  databaseUrl?: string,
  options: { endpointsChanged?: () => void } = {},
): Promise<Harness> {
  const home = await mkdtemp(join(tmpdir(), 'ef-server-'));
  const store = await openStore(databaseUrl ?? `sqlite:${join(home, 'edgefleet.db')}`);
  let { created } = await bootstrapSecrets(store, home);
  if (!created) {
    // A second server on a shared database: give it an admin key of its own.
    const adminKey = newSecret('admin');
    await store.createApiKey({ name: 'admin-2', keyHash: hashSecret(adminKey), role: 'admin' });
    created = { adminKey, joinToken: '', adminKeyKept: false };
  }
  const inferenceKey = newSecret('admin');
  // Key names are one active key's: the second server's inference key has a name of its own.
  const appName = (await store.listApiKeys()).some((k) => k.name === 'app') ? 'app-2' : 'app';
  await store.createApiKey({ name: appName, keyHash: hashSecret(inferenceKey), role: 'inference' });
  const clock = { now: Date.now() };
  const control = new ControlServer({
    store,
    log: pino({ level: 'silent' }),
    nodeTimeoutMs: 15_000,
    now: () => clock.now,
    ...(options.endpointsChanged && { endpointsChanged: options.endpointsChanged }),
  });
  control.server.listen(0, '127.0.0.1');
  await once(control.server, 'listening');
  const baseUrl = `http://127.0.0.1:${(control.server.address() as AddressInfo).port}`;
  const adminKey = created.adminKey;
  return {
    store,
    control,
    home,
    baseUrl,
    adminKey,
    inferenceKey,
    clock,
    async call(method, path, options = {}) {
      const key = options.key === undefined ? adminKey : options.key;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (key !== null) headers['authorization'] = `Bearer ${key}`;
      const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined && { body }),
      });
      const text = await response.text();
      return {
        status: response.status,
        body: (text.startsWith('{') ? JSON.parse(text) : { text }) as JsonObject,
      };
    },
    newJoinToken: () => rotateJoinToken(store, home, clock.now),
    async close() {
      await control.close();
      await store.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** A worker's register body with `count` RTX 4090s. */
export function registerBody(joinToken: string, name: string, site: string, count = 1) {
  return {
    joinToken,
    name,
    site,
    address: `${name}.local:9090`,
    devices: Array.from({ length: count }, (_, index) => ({
      index,
      vendor: 'nvidia',
      kind: 'gpu',
      name: 'NVIDIA GeForce RTX 4090',
      memoryBytes: 25_757_220_864,
      hardwareId: 'rtx-4090',
    })),
    cpu: { cores: 16, memoryBytes: 64 * 1024 ** 3 },
  };
}

/**
 * The stores a harness test runs on, for `describe.each`: SQLite, and a fresh PostgreSQL database each
 * (all dropped after the file's tests). Each entry gives the `databaseUrl` for `startHarness`.
 */
export function harnessStores(): [string, () => Promise<string | undefined>][] {
  const postgres = new PostgresTestDatabases();
  afterAll(async () => {
    await postgres.dropAll();
  });
  return [
    ['SQLite', async () => undefined],
    [
      'PostgreSQL',
      async () => {
        await postgres.connect();
        return postgres.fresh();
      },
    ],
  ];
}
