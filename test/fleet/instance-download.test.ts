import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/telemetry/logger.js';
import { InstanceRunner, type InstanceReport } from '../../src/worker/agent/instance-runner.js';
import { findCached } from '../../src/worker/models/model-cache.js';
import { makeTestModel } from '../helpers/models.js';

const log = createLogger('test');
log.level = 'silent';

/** A URL model is pulled into the cache with progress, then started on the embedded engine (dist/). */
describe('InstanceRunner with a URL model', () => {
  let http: Server | undefined;
  let home: string | undefined;
  let runner: InstanceRunner | undefined;

  afterAll(async () => {
    await runner?.stop();
    http?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('reports downloading with progress, then starting, then running', async () => {
    const model = await makeTestModel({});
    const bytes = await readFile(model.path);
    http = createServer((request, response) => {
      response.writeHead(200, { 'content-length': String(bytes.length) });
      // Slow enough that the runner is seen downloading.
      const chunk = Math.ceil(bytes.length / 10);
      let at = 0;
      const next = () => {
        if (at >= bytes.length) {
          response.end();
          return;
        }
        response.write(bytes.subarray(at, at + chunk));
        at += chunk;
        setTimeout(next, 40);
      };
      next();
    });
    http.listen(0, '127.0.0.1');
    await new Promise((resolve) => http!.once('listening', resolve));
    const ref = `http://127.0.0.1:${(http.address() as AddressInfo).port}/tiny.gguf`;
    home = await mkdtemp(join(tmpdir(), 'ef-download-'));
    runner = new InstanceRunner({
      instance: {
        id: 'i-1',
        deploymentId: 'd-1',
        modelRef: ref,
        servedName: 'tiny',
        engine: 'llama.cpp',
        deviceIndexes: [0],
        contextTokens: 512,
      },
      home,
      bindHost: '127.0.0.1',
      threads: 1,
      parallel: 1,
      cpuOnly: true,
      log,
    });
    runner.start();
    const seen: InstanceReport[] = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const report = runner.report();
      seen.push(report);
      if (report.state === 'running' || report.state === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const last = seen.at(-1);
    expect(last?.state, JSON.stringify(last)).toBe('running');
    expect(seen.some((r) => r.state === 'downloading' && r.downloadProgress !== undefined)).toBe(true);
    expect(seen.some((r) => r.state === 'starting')).toBe(true);
    expect((await findCached(home, ref))?.sizeBytes).toBe(bytes.length);

    const client = new OpenAI({
      baseURL: `http://127.0.0.1:${String(last?.port)}/v1`,
      apiKey: 'x',
      maxRetries: 0,
    });
    const reply = await client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'hi there' }],
      temperature: 0,
    });
    expect(reply.choices[0]?.message.content).toBe(model.expectedText);
    await runner.stop();
    expect(runner.report().state).toBe('stopped');
  }, 40_000);
});
