import { describe, expect, it } from 'vitest';
import { schedule } from './schedule.js';
import { catalogDevices, fewestDevicesThatFit, fixtureNode, plannerSays } from './scheduler-fixtures.js';
import type { SchedulerDeployment, SchedulerNode } from './scheduler-types.js';

const R1_14B = 'deepseek-r1-distill-qwen-14b';
const R1_32B = 'deepseek-r1-distill-qwen-32b';

function one(deployment: SchedulerDeployment, nodes: SchedulerNode[]) {
  return schedule({ deployments: [deployment], nodes, instances: [] });
}

describe('schedule: fit stages, consistent with the planner', () => {
  it.each([
    { engine: undefined, expected: 'llama.cpp' },
    { engine: 'llama.cpp', expected: 'llama.cpp' },
    { engine: 'ollama', expected: 'ollama' },
  ])('14B distill q4_k_m on an RTX 4090 node → one device ($expected)', ({ engine, expected }) => {
    const plan = one({ id: 'd', model: R1_14B, quant: 'q4_k_m', engine, replicas: 1 }, [
      fixtureNode('n1', 's1', 'rtx-4090', 2),
    ]);
    expect(plan.pending).toEqual([]);
    expect(plan.placements).toHaveLength(1);
    const [p] = plan.placements;
    expect(p).toMatchObject({ nodeId: 'n1', deviceIndexes: [0], engine: expected, fit: 'single-device' });
    expect(p?.tensorParallel).toBe(1);
    expect(p?.perDeviceBytes).toBe(plannerSays(R1_14B, 'q4_k_m', expected, 'rtx-4090', 1).perDeviceBytes);
  });

  it.each([
    { engine: 'vllm', split: 'tensor' },
    { engine: 'llama.cpp', split: 'layer' },
  ])(
    '32B bf16 on 4× A100-40GB of one node with $engine → the fewest devices the planner fits',
    ({ engine, split }) => {
      const count = fewestDevicesThatFit(R1_32B, 'bf16', engine, 'a100-40gb', 4);
      expect(count).not.toBeNull();
      expect(count).toBeGreaterThan(1);
      const plan = one({ id: 'd', model: R1_32B, quant: 'bf16', engine, replicas: 1 }, [
        fixtureNode('n1', 's1', 'a100-40gb', 4),
      ]);
      const [p] = plan.placements;
      expect(p?.fit).toBe('multi-device');
      expect(p?.deviceIndexes).toHaveLength(count ?? 0);
      expect(p?.tensorParallel).toBe(split === 'tensor' ? count : 1);
      expect(p?.perDeviceBytes).toBe(
        plannerSays(R1_32B, 'bf16', engine, 'a100-40gb', count ?? 0).perDeviceBytes,
      );
    },
  );

  it('32B bf16 with a long context needs TP4 on the A100-40GB node (planner decides the size)', () => {
    const plan = schedule({
      deployments: [
        { id: 'd', model: R1_32B, quant: 'bf16', engine: 'vllm', replicas: 1, contextTokens: 131072 },
      ],
      nodes: [fixtureNode('n1', 's1', 'a100-40gb', 4)],
      instances: [],
    });
    const [p] = plan.placements;
    expect(p).toMatchObject({ fit: 'multi-device', tensorParallel: 4, deviceIndexes: [0, 1, 2, 3] });
  });

  it('32B bf16 on two single-A100 nodes: llama.cpp stays pending (no multi-node), vLLM spans both nodes', () => {
    const nodes = [fixtureNode('n1', 's1', 'a100-40gb', 1), fixtureNode('n2', 's1', 'a100-40gb', 1)];
    const llama = one({ id: 'd', model: R1_32B, quant: 'bf16', engine: 'llama.cpp', replicas: 1 }, nodes);
    expect(llama.placements).toEqual([]);
    expect(llama.pending[0]?.reason).toMatch(
      /needs [\d.]+ GB per device .*largest free is [\d.]+ GB on n1\/gpu0/,
    );
    const vllm = one({ id: 'd', model: R1_32B, quant: 'bf16', engine: 'vllm', replicas: 1 }, nodes);
    expect(vllm.placements[0]).toMatchObject({
      fit: 'multi-node',
      tensorParallel: 2,
      nodes: [
        { nodeId: 'n1', deviceIndexes: [0] },
        { nodeId: 'n2', deviceIndexes: [0] },
      ],
    });
  });

  it('DeepSeek-R1 fp8 with SGLang on 2 nodes × 8 H200: TP8 in one node, as the planner says it fits', () => {
    expect(plannerSays('deepseek-r1', 'fp8', 'sglang', 'h200', 8).fits).toBe(true);
    const nodes = [fixtureNode('h1', 's1', 'h200', 8), fixtureNode('h2', 's1', 'h200', 8)];
    const plan = one({ id: 'r1', model: 'deepseek-r1', quant: 'fp8', engine: 'sglang', replicas: 2 }, nodes);
    expect(plan.pending).toEqual([]);
    expect(plan.placements.map((p) => [p.fit, p.nodeId, p.tensorParallel])).toEqual([
      ['multi-device', 'h1', 8],
      ['multi-device', 'h2', 8],
    ]);
  });

  it('DeepSeek-R1 fp8 with SGLang goes multi-node (TP16) when no node has 8 devices with room for TP8', () => {
    const tp8 = plannerSays('deepseek-r1', 'fp8', 'sglang', 'h200', 8).perDeviceBytes;
    const tp16 = plannerSays('deepseek-r1', 'fp8', 'sglang', 'h200', 16);
    const nodes = [fixtureNode('h1', 's1', 'h200', 8), fixtureNode('h2', 's1', 'h200', 8)];
    // 60 GB held on every device by another deployment: TP8's share no longer fits, TP16's does.
    const instances = nodes.map((n) => ({
      deploymentId: 'other',
      nodeId: n.id,
      state: 'running' as const,
      allocations: n.devices.map((d) => ({ deviceIndex: d.index, memoryBytes: 60e9 })),
    }));
    const plan = schedule({
      deployments: [{ id: 'r1', model: 'deepseek-r1', quant: 'fp8', engine: 'sglang', replicas: 1 }],
      nodes,
      instances,
    });
    expect(tp8).toBeGreaterThan(0.88 * 141e9 - 60e9);
    expect(tp16.fits).toBe(true);
    const [p] = plan.placements;
    expect(p).toMatchObject({ fit: 'multi-node', tensorParallel: 16, deviceCount: 16, nodeId: 'h1' });
    expect(p?.nodes.map((n) => n.deviceIndexes.length)).toEqual([8, 8]);
    expect(p?.perDeviceBytes).toBe(tp16.perDeviceBytes);
    expect(p?.allocations).toHaveLength(16);
  });

  it('DeepSeek-R1 q4_k_m on one RTX 4090 with 512 GB of RAM → host offload of the experts', () => {
    const planner = plannerSays('deepseek-r1', 'q4_k_m', 'llama.cpp', 'rtx-4090', 1);
    const plan = one({ id: 'r1', model: 'deepseek-r1', quant: 'q4_k_m', replicas: 1 }, [
      fixtureNode('n1', 's1', 'rtx-4090', 1, { hostMemoryBytes: 512e9 }),
    ]);
    expect(plan.placements[0]).toMatchObject({
      fit: 'host-offload',
      engine: 'llama.cpp',
      perDeviceBytes: planner.perDeviceBytes,
      hostBytes: planner.hostBytes,
    });
    // Without the RAM it stays pending, and the reason names the host memory.
    const small = one({ id: 'r1', model: 'deepseek-r1', quant: 'q4_k_m', replicas: 1 }, [
      fixtureNode('n1', 's1', 'rtx-4090', 1, { hostMemoryBytes: 128e9 }),
    ]);
    expect(small.pending[0]?.reason).toMatch(/host memory/);
  });

  it('a CPU-only node runs a small model on its CPU as the last resort', () => {
    const plan = one({ id: 'd', model: 'deepseek-r1-distill-qwen-1.5b', quant: 'q4_k_m', replicas: 1 }, [
      { id: 'c1', siteId: 's1', status: 'up', devices: catalogDevices('epyc-9654', 1) },
    ]);
    expect(plan.placements[0]).toMatchObject({
      fit: 'host-offload',
      engine: 'llama.cpp',
      hardware: 'epyc-9654',
    });
  });

  it('a device without a catalog id is judged by its memory only, and the placement says so', () => {
    const plan = one({ id: 'd', model: R1_14B, quant: 'q4_k_m', replicas: 1 }, [
      {
        id: 'n1',
        siteId: 's1',
        status: 'up',
        devices: [
          {
            index: 0,
            vendor: 'nvidia',
            kind: 'gpu',
            name: 'Mystery 48G',
            memoryBytes: 48e9,
            hardwareId: null,
          },
        ],
      },
    ]);
    expect(plan.placements[0]?.hardware).toBe('memory-only:48000000000');
    expect(plan.placements[0]?.why).toMatch(/judged by its memory only/);
  });
});
