import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from './control-client.js';

/** What a heartbeat answer carries reaches the worker: every field the launch needs, nothing dropped. */
describe('ControlClient.heartbeat', () => {
  const answer = {
    nodeId: 'n-1',
    instances: [
      {
        id: 'i-1',
        deploymentId: 'd-1',
        modelRef: 'deepseek-r1',
        servedName: 'r1',
        engine: 'vllm',
        quant: 'fp8',
        deviceIndexes: [0, 1, 2, 3, 4, 5, 6, 7],
        contextTokens: 8192,
        tensorParallelSize: 8,
        pipelineParallelSize: 2,
        quantization: 'fp8',
        multiNode: { nodeCount: 2, nodeRank: 1, masterAddr: '10.0.0.4', masterPort: 29577 },
        engineKey: 'ef_engine_abc',
        addedLater: 'ignored',
      },
      {
        id: 'i-2',
        deploymentId: 'd-2',
        modelRef: '/m.gguf',
        servedName: 'm',
        engine: 'llama.cpp',
        contextTokens: 512,
      },
    ],
  };
  let seen = '';
  const server = createServer((request, response) => {
    seen = `${request.method} ${request.url} ${request.headers.authorization}`;
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(answer));
  });
  let client: ControlClient;
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    client = new ControlClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(() => {
    client.close();
    server.close();
  });

  it('keeps the multi-node placement, parallel sizes and engine key, and leaves absent fields out', async () => {
    const desired = await client.heartbeat('ef_node_x', { instances: [] });
    expect(seen).toBe('POST /api/v1/worker/heartbeat Bearer ef_node_x');
    const { addedLater: _ignored, ...expected } = answer.instances[0]!;
    expect(desired[0]).toEqual(expected);
    expect(desired[1]).toEqual({ ...answer.instances[1], deviceIndexes: [] });
    expect(Object.keys(desired[1]!)).not.toContain('engineKey');
  });
});
