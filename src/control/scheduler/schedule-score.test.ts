import { describe, expect, it } from 'vitest';
import { schedule } from './schedule.js';
import { bytesPerDevice, fixtureNode, usableBytes } from './scheduler-fixtures.js';
import type { ScheduleInput, SchedulerDeployment, SchedulerInstance } from './scheduler-types.js';

const R1_7B = 'deepseek-r1-distill-qwen-7b';
const R1_14B = 'deepseek-r1-distill-qwen-14b';
const small = (extra: Partial<SchedulerDeployment> = {}): SchedulerDeployment => ({
  id: 'd',
  model: R1_14B,
  quant: 'q4_k_m',
  replicas: 1,
  ...extra,
});

describe('schedule: filter', () => {
  it.each([
    {
      name: 'down nodes are skipped',
      nodes: [
        fixtureNode('a', 's1', 'rtx-4090', 1, { status: 'down' }),
        fixtureNode('b', 's1', 'rtx-4090', 1),
      ],
      deployment: small(),
      expected: 'b',
    },
    {
      name: 'nodes outside the allowed sites are skipped',
      nodes: [fixtureNode('a', 's1', 'rtx-4090', 1), fixtureNode('b', 's2', 'rtx-4090', 1)],
      deployment: small({ siteConstraints: ['s2'] }),
      expected: 'b',
    },
    {
      name: 'hardware the engine does not run on is skipped (vLLM on Ascend)',
      nodes: [fixtureNode('a', 's1', 'ascend-910b', 8), fixtureNode('b', 's1', 'h20', 1)],
      deployment: small({ quant: 'bf16', engine: 'vllm' }),
      expected: 'b',
    },
  ])('$name', ({ nodes, deployment, expected }) => {
    const plan = schedule({ deployments: [deployment], nodes, instances: [] });
    expect(plan.placements.map((p) => p.nodeId)).toEqual([expected]);
  });

  it.each([
    {
      name: 'no up node in the allowed sites',
      deployment: small({ siteConstraints: ['s9'] }),
      reason: /no node is up in the allowed sites \(s9\)/,
    },
    {
      name: 'engine does not run on the hardware (planner reason)',
      deployment: small({ quant: 'bf16', engine: 'mindie' }),
      reason: /mindie does not run on rtx-4090/,
    },
    {
      name: 'engine does not load the quantization (planner reason)',
      deployment: small({ engine: 'vllm' }),
      reason: /vllm does not load q4_k_m/,
    },
    {
      name: 'unknown model id lists valid ids',
      deployment: small({ model: 'gpt-9' }),
      reason: /valid ids: .*deepseek-r1/,
    },
    {
      name: 'impossible deployment names memory',
      deployment: small({ model: 'deepseek-r1-distill-llama-70b', quant: 'bf16', engine: 'vllm' }),
      reason: /^needs [\d.]+ GB per device \(vllm on one rtx-4090\), largest free is [\d.]+ GB on a\/gpu0$/,
    },
    {
      name: 'impossible MoE offload names device and host memory',
      deployment: small({ model: 'deepseek-r1', quant: 'bf16', engine: 'llama.cpp' }),
      reason:
        /experts in host memory \(llama.cpp\) it needs [\d.]+ GB per device and [\d.]+ GB of host memory, the most free on a node is 64.0 GB/,
    },
  ])('pending: $name', ({ deployment, reason }) => {
    const plan = schedule({
      deployments: [{ ...deployment, replicas: 2 }],
      nodes: [fixtureNode('a', 's1', 'rtx-4090', 1, { hostMemoryBytes: 64e9 })],
      instances: [],
    });
    expect(plan.placements).toEqual([]);
    expect(plan.pending).toEqual([
      { deploymentId: 'd', replicasMissing: 2, reason: expect.stringMatching(reason) },
    ]);
  });
});

describe('schedule: score', () => {
  const fourNodes = [
    fixtureNode('a1', 'sa', 'rtx-4090', 2),
    fixtureNode('a2', 'sa', 'rtx-4090', 2),
    fixtureNode('b1', 'sb', 'rtx-4090', 2),
    fixtureNode('b2', 'sb', 'rtx-4090', 2),
  ];

  it('spread puts replicas in two sites, then on unused nodes', () => {
    const plan = schedule({ deployments: [small({ replicas: 4 })], nodes: fourNodes, instances: [] });
    const sites = plan.placements.map((p) => fourNodes.find((n) => n.id === p.nodeId)?.siteId);
    expect(sites.slice(0, 2).sort()).toEqual(['sa', 'sb']);
    expect(new Set(plan.placements.map((p) => p.nodeId)).size).toBe(4);
  });

  it('binpack fills one node before the next', () => {
    const plan = schedule({
      deployments: [small({ replicas: 3, strategy: 'binpack' })],
      nodes: fourNodes,
      instances: [],
    });
    const where = plan.placements.map((p) => `${p.nodeId}/${p.deviceIndexes.join('+')}`);
    // Two 10.6 GB replicas share a 25 GB RTX 4090 before another device or node is opened.
    expect(where).toEqual(['a1/0', 'a1/0', 'a1/1']);
  });

  it('the model file already cached on a node earns a bonus', () => {
    const nodes = [
      fixtureNode('a', 's1', 'rtx-4090', 1),
      fixtureNode('b', 's1', 'rtx-4090', 1, { cachedModels: [R1_14B] }),
    ];
    const plan = schedule({ deployments: [small()], nodes, instances: [] });
    expect(plan.placements[0]?.nodeId).toBe('b');
    expect(plan.placements[0]?.why).toMatch(/model file already cached/);
  });

  it('existing allocations are respected and existing replicas count', () => {
    const nodes = [fixtureNode('a', 's1', 'rtx-4090', 1), fixtureNode('b', 's1', 'rtx-4090', 1)];
    const instances: SchedulerInstance[] = [
      {
        deploymentId: 'other',
        nodeId: 'a',
        state: 'running',
        allocations: [{ deviceIndex: 0, memoryBytes: 20e9 }],
      },
      {
        deploymentId: 'd',
        nodeId: 'b',
        state: 'running',
        allocations: [{ deviceIndex: 0, memoryBytes: 11e9 }],
      },
      {
        deploymentId: 'd',
        nodeId: 'b',
        state: 'stopped',
        allocations: [{ deviceIndex: 0, memoryBytes: 11e9 }],
      },
    ];
    const plan = schedule({ deployments: [small({ replicas: 2 })], nodes, instances });
    // One replica runs; a has only ~5 GB free, so the second goes to b next to the first.
    expect(plan.placements.map((p) => p.nodeId)).toEqual(['b']);
    const none = schedule({ deployments: [small({ replicas: 1 })], nodes, instances });
    expect(none).toEqual({ placements: [], pending: [] });
  });

  it('a replica on a down node does not count and is placed again', () => {
    const nodes = [
      fixtureNode('a', 's1', 'rtx-4090', 1, { status: 'down' }),
      fixtureNode('b', 's1', 'rtx-4090', 1),
    ];
    const instances: SchedulerInstance[] = [
      {
        deploymentId: 'd',
        nodeId: 'a',
        state: 'running',
        allocations: [{ deviceIndex: 0, memoryBytes: 11e9 }],
      },
    ];
    const plan = schedule({ deployments: [small()], nodes, instances });
    expect(plan.placements.map((p) => p.nodeId)).toEqual(['b']);
  });

  it('a cordoned node takes no new replica, but the one it runs still counts', () => {
    const nodes = [
      fixtureNode('a', 's1', 'rtx-4090', 2, { schedulable: false }),
      fixtureNode('b', 's1', 'rtx-4090', 1),
    ];
    const onA: SchedulerInstance = {
      deploymentId: 'd',
      nodeId: 'a',
      state: 'running',
      allocations: [{ deviceIndex: 0, memoryBytes: 11e9 }],
    };
    const plan = schedule({ deployments: [small({ replicas: 2 })], nodes, instances: [onA] });
    expect(plan.placements.map((p) => p.nodeId)).toEqual(['b']);
    expect(plan.pending).toEqual([]);
    // More than b holds: the rest stay pending though a has a free device.
    const full = schedule({ deployments: [small({ replicas: 10 })], nodes, instances: [onA] });
    expect(full.placements.length).toBeGreaterThan(0);
    expect(full.placements.every((p) => p.nodeId === 'b')).toBe(true);
    expect(full.pending[0]?.replicasMissing).toBe(9 - full.placements.length);
    expect(full.pending[0]?.reason).toMatch(/; 1 cordoned or draining node\(s\) not considered$/);
    const onlyCordoned = schedule({ deployments: [small()], nodes: [nodes[0]!], instances: [] });
    expect(onlyCordoned.pending[0]?.reason).toBe('no node is up and schedulable: 1 cordoned or draining');
  });

  it('never oversubscribes a device over 20 placements', () => {
    const nodes = [
      fixtureNode('a', 's1', 'rtx-4090', 2),
      fixtureNode('b', 's1', 'rtx-4090', 4),
      fixtureNode('c', 's2', 'l40s', 2),
    ];
    const plan = schedule({
      deployments: [
        small({ id: 'x', model: R1_7B, engine: 'llama.cpp', replicas: 12 }),
        small({ id: 'y', engine: 'llama.cpp', replicas: 12, strategy: 'binpack' }),
      ],
      nodes,
      instances: [
        {
          deploymentId: 'z',
          nodeId: 'b',
          state: 'running',
          allocations: [{ deviceIndex: 3, memoryBytes: 20e9 }],
        },
      ],
    });
    expect(plan.placements.length).toBeGreaterThanOrEqual(20);
    const sums = bytesPerDevice(plan.placements);
    sums.set('b#3', (sums.get('b#3') ?? 0) + 20e9);
    for (const [key, bytes] of sums) {
      const hardware = key.startsWith('c#') ? 'l40s' : 'rtx-4090';
      expect(bytes, key).toBeLessThanOrEqual(usableBytes('llama.cpp', hardware));
    }
    // What did not fit is pending with a memory reason.
    for (const p of plan.pending) expect(p.reason).toMatch(/needs .* per device/);
  });

  it('gives the same plan for the same input, whatever the order of nodes', () => {
    const input: ScheduleInput = {
      deployments: [
        small({ replicas: 5 }),
        small({ id: 'e', model: R1_7B, replicas: 3, strategy: 'binpack' }),
      ],
      nodes: fourNodes,
      instances: [],
    };
    const first = schedule(input);
    expect(schedule(input)).toEqual(first);
    expect(schedule({ ...input, nodes: [...fourNodes].reverse() })).toEqual(first);
  });

  it('plans the worked example of docs/scheduler.md', () => {
    const plan = schedule({
      deployments: [
        { id: 'chat-14b', model: R1_14B, quant: 'q4_k_m', replicas: 2 },
        {
          id: 'code-32b',
          model: 'deepseek-r1-distill-qwen-32b',
          quant: 'bf16',
          engine: 'vllm',
          replicas: 1,
          siteConstraints: ['sh'],
        },
        { id: 'r1', model: 'deepseek-r1', quant: 'fp8', engine: 'sglang', replicas: 1 },
        { id: 'r1-bf16', model: 'deepseek-r1', quant: 'bf16', replicas: 1 },
      ],
      nodes: [
        fixtureNode('bj-1', 'bj', 'rtx-4090', 2, { cachedModels: [R1_14B] }),
        fixtureNode('bj-2', 'bj', 'h20', 8),
        fixtureNode('sh-1', 'sh', 'a100-40gb', 4),
        fixtureNode('sh-2', 'sh', 'rtx-4090', 2, { status: 'down' }),
      ],
      instances: [],
    });
    expect(
      plan.placements.map((p) => [
        p.deploymentId,
        p.nodeId,
        p.deviceIndexes.join(','),
        p.engine,
        p.tensorParallel,
      ]),
    ).toEqual([
      ['chat-14b', 'bj-1', '0', 'llama.cpp', 1],
      ['chat-14b', 'sh-1', '0', 'llama.cpp', 1],
      ['code-32b', 'sh-1', '1,2', 'vllm', 2],
      ['r1', 'bj-2', '0,1,2,3,4,5,6,7', 'sglang', 8],
    ]);
    expect(plan.pending).toEqual([
      {
        deploymentId: 'r1-bf16',
        replicasMissing: 1,
        reason: expect.stringMatching(/^needs 1344.0 GB per device/),
      },
    ]);
  });
});
