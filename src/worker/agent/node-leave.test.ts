import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../telemetry/logger.js';
import { leaveTimeoutMs, NodeLeave } from './node-leave.js';

const log = createLogger('test');
log.level = 'silent';

/** The leave against a control plane that records each heartbeat it is sent. */
describe('NodeLeave', () => {
  const received: { leaving: unknown; instances: unknown }[] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      received.push(JSON.parse(text) as { leaving: unknown; instances: unknown });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ nodeId: 'n-1', instances: [] }));
    });
  });
  let url = '';
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });
  beforeEach(() => {
    received.length = 0;
  });
  const credential = () => 'ef_node_test';

  it('says the node leaves once when no heartbeat is in flight, and that no engine is left after', async () => {
    const leave = new NodeLeave(url, undefined, log);
    expect(await leave.announce(credential, ['i-1'], Promise.resolve())).toBe(true);
    await leave.stopped(credential);
    leave.close();
    expect(received).toEqual([
      { instances: [{ id: 'i-1', state: 'stopping' }], leaving: true },
      { instances: [], leaving: true },
    ]);
  });

  it('says it again when a heartbeat in flight settles only after the leave', async () => {
    const leave = new NodeLeave(url, undefined, log);
    let settle = () => undefined as void;
    const inFlight = new Promise<void>((resolve) => (settle = resolve));
    const announced = leave.announce(credential, ['i-1'], inFlight);
    // The leave goes out once the wait for the heartbeat in flight ran out …
    await new Promise((resolve) => setTimeout(resolve, leaveTimeoutMs - 500));
    expect(received).toEqual([]);
    while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    // … and once more when that heartbeat settles (its answer may have marked the node up again).
    settle();
    expect(await announced).toBe(true);
    leave.close();
    expect(received).toHaveLength(2);
    expect(received[1]).toEqual(received[0]);
  });

  it('answers false without a credential or a control plane', async () => {
    const nobody = new NodeLeave(url, undefined, log);
    expect(await nobody.announce(() => null, ['i-1'], undefined)).toBe(false);
    nobody.close();
    expect(received).toEqual([]);
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    const unreachable = new NodeLeave(`http://127.0.0.1:${port}`, undefined, log);
    expect(await unreachable.announce(credential, [], undefined)).toBe(false);
    unreachable.close();
  });
});
