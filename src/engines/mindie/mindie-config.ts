import { localDeviceCount, type EngineLaunchSpec } from '../adapter/launch-spec.js';

/** Ports MindIE Server opens: the OpenAI/TGI API, the management API and the Prometheus endpoint. */
export interface MindiePorts {
  port: number;
  managementPort: number;
  metricsPort: number;
}

export function mindiePorts(port: number): MindiePorts {
  return { port, managementPort: port + 1, metricsPort: port + 2 };
}

/**
 * The MindIE Server `config.json` for one model instance (the layout of MindIE 1.0/2.x:
 * ServerConfig, BackendConfig.ModelDeployConfig.ModelConfig[], BackendConfig.ScheduleConfig).
 * HTTPS is off: the worker and gateway speak plain HTTP on the private network, as with every engine.
 */
export function mindieConfig(spec: EngineLaunchSpec): Record<string, unknown> {
  const ports = mindiePorts(spec.port);
  const worldSize = spec.tensorParallelSize * spec.pipelineParallelSize;
  const multiNode = spec.multiNode !== undefined;
  const localDevices =
    spec.deviceIndices.length > 0
      ? spec.deviceIndices
      : Array.from({ length: localDeviceCount(spec) }, (_, i) => i);
  const maxSeqLen = spec.contextLength ?? 2560;
  return {
    Version: '1.0.0',
    ServerConfig: {
      ipAddress: spec.host,
      managementIpAddress: spec.host,
      port: ports.port,
      managementPort: ports.managementPort,
      metricsPort: ports.metricsPort,
      allowAllZeroIpListening: spec.host === '0.0.0.0',
      maxLinkNum: 1000,
      httpsEnabled: false,
      interCommTLSEnabled: false,
    },
    BackendConfig: {
      backendName: 'mindieservice_llm_engine',
      modelInstanceNumber: 1,
      npuDeviceIds: [localDevices],
      tokenizerProcessNumber: 8,
      multiNodesInferEnabled: multiNode,
      multiNodesInferPort: spec.multiNode?.masterPort ?? 1120,
      interNodeTLSEnabled: false,
      ModelDeployConfig: {
        maxSeqLen,
        maxInputTokenLen: maxSeqLen,
        truncation: false,
        ModelConfig: [
          {
            modelInstanceType: 'Standard',
            modelName: spec.servedModelName,
            modelWeightPath: spec.model,
            worldSize: multiNode ? localDevices.length : worldSize,
            cpuMemSize: 5,
            npuMemSize: -1,
            backendType: 'atb',
            trustRemoteCode: false,
          },
        ],
      },
      ScheduleConfig: {
        templateType: 'Standard',
        templateName: 'Standard_LLM',
        cacheBlockSize: 128,
        maxPrefillBatchSize: 50,
        maxPrefillTokens: Math.max(8192, maxSeqLen),
        prefillTimeMsPerReq: 150,
        prefillPolicyType: 0,
        decodeTimeMsPerReq: 50,
        decodePolicyType: 0,
        maxBatchSize: 200,
        maxIterTimes: maxSeqLen,
        maxPreemptCount: 0,
        supportSelectBatch: false,
        maxQueueDelayMicroseconds: 5000,
      },
    },
  };
}
