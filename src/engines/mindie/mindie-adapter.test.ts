import { describe, expect, it } from 'vitest';
import { createMindieAdapter } from './mindie-adapter.js';

const mindie = createMindieAdapter();
const base = {
  model: '/data/weights/Qwen2.5-72B-Instruct',
  servedModelName: 'qwen2.5-72b',
  host: '10.1.0.8',
  port: 1025,
};

interface Config {
  ServerConfig: {
    ipAddress: string;
    port: number;
    managementPort: number;
    metricsPort: number;
    httpsEnabled: boolean;
  };
  BackendConfig: {
    npuDeviceIds: number[][];
    multiNodesInferEnabled: boolean;
    ModelDeployConfig: {
      maxSeqLen: number;
      ModelConfig: { modelName: string; modelWeightPath: string; worldSize: number }[];
    };
  };
}

function configOf(plan: ReturnType<typeof mindie.launch>): Config {
  const file = plan.files.find((f) => f.path === 'mindie-config.json');
  if (!file) throw new Error('no config file');
  return JSON.parse(file.content) as Config;
}

describe('MindIE launch', () => {
  it('910B, 8 devices: writes config.json and starts mindieservice_daemon reading it', () => {
    const plan = mindie.launch({
      ...base,
      tensorParallelSize: 8,
      contextLength: 8192,
      deviceIndices: [0, 1, 2, 3, 4, 5, 6, 7],
    });
    expect(plan.command).toMatch(/mindie-service\/bin\/mindieservice_daemon$/);
    expect(plan.env).toMatchObject({
      MIES_CONFIG_JSON_PATH: 'mindie-config.json',
      MIES_SERVICE_MONITOR_MODE: '1',
      ASCEND_RT_VISIBLE_DEVICES: '0,1,2,3,4,5,6,7',
    });
    const config = configOf(plan);
    expect(config.ServerConfig).toMatchObject({
      ipAddress: '10.1.0.8',
      port: 1025,
      managementPort: 1026,
      metricsPort: 1027,
      httpsEnabled: false,
    });
    expect(config.BackendConfig.npuDeviceIds).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
    expect(config.BackendConfig.multiNodesInferEnabled).toBe(false);
    expect(config.BackendConfig.ModelDeployConfig.maxSeqLen).toBe(8192);
    expect(config.BackendConfig.ModelDeployConfig.ModelConfig).toEqual([
      expect.objectContaining({ modelName: 'qwen2.5-72b', modelWeightPath: base.model, worldSize: 8 }),
    ]);
    expect(plan.metricsPort).toBe(1027);
    expect(plan.openAiBaseUrl).toBe('http://10.1.0.8:1025/v1');
  });

  it('2 nodes × 8, rank 1: multi-node inference on, 8 local devices, no API URL', () => {
    const plan = mindie.launch({
      ...base,
      tensorParallelSize: 16,
      multiNode: { nodeCount: 2, nodeRank: 1, masterAddr: '10.1.0.7', masterPort: 1120 },
    });
    const config = configOf(plan);
    expect(config.BackendConfig.multiNodesInferEnabled).toBe(true);
    expect(config.BackendConfig.npuDeviceIds).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
    expect(config.BackendConfig.ModelDeployConfig.ModelConfig[0]?.worldSize).toBe(8);
    expect(plan.env).toMatchObject({ MIES_CONTAINER_IP: '10.1.0.8', MASTER_IP: '10.1.0.7' });
    expect(plan.openAiBaseUrl).toBeNull();
  });
});
