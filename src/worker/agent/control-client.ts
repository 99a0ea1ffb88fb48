import { z } from 'zod';
import { multiNodeSchema } from '../../engines/adapter/launch-spec.js';
import { HttpClient, type HttpAnswer, type HttpClientOptions } from '../../http/http-request.js';
import type {
  DesiredInstance,
  HeartbeatRequest,
  RegisterRequest,
  RegisterResponse,
} from '../../spec/worker-protocol.js';
import { errorBodyMessage } from '../../spec/edgefleet-error.js';

/** Lenient schemas for what the control plane answers (unknown fields are ignored). */
const registerResponseSchema = z.object({
  nodeId: z.string().min(1),
  siteId: z.string().min(1),
  credential: z.string().min(1),
});

const desiredInstanceSchema = z.object({
  id: z.string().min(1),
  deploymentId: z.string(),
  modelRef: z.string().min(1),
  servedName: z.string().min(1),
  engine: z.string().min(1),
  quant: z.string().optional(),
  deviceIndexes: z.array(z.number().int()).default([]),
  contextTokens: z.number().int().positive(),
  tensorParallelSize: z.number().int().positive().optional(),
  pipelineParallelSize: z.number().int().positive().optional(),
  quantization: z.string().min(1).optional(),
  multiNode: z.object(multiNodeSchema.shape).optional(),
  engineKey: z.string().min(1).optional(),
});

const heartbeatResponseSchema = z.object({
  nodeId: z.string(),
  instances: z.array(desiredInstanceSchema),
});

/** A control-plane answer other than 2xx; `status` tells a rejected credential (401) from an outage. */
export class ControlRequestError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

/**
 * The worker's side of the worker protocol (`/api/v1/worker/*`), over HTTP or HTTPS; `tls` says what
 * an https control plane's certificate is checked against (`--tls-ca`).
 */
export class ControlClient {
  private readonly http: HttpClient;

  constructor(
    private readonly serverUrl: string,
    private readonly timeoutMs = 10_000,
    tls: Omit<HttpClientOptions, 'maxResponseBytes'> = {},
  ) {
    this.http = new HttpClient(tls);
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.http.close();
  }

  async register(body: RegisterRequest): Promise<RegisterResponse> {
    return registerResponseSchema.parse(await this.post('register', body, undefined));
  }

  async heartbeat(credential: string, body: HeartbeatRequest): Promise<DesiredInstance[]> {
    const parsed = heartbeatResponseSchema.parse(await this.post('heartbeat', body, credential));
    // Optional fields left out rather than set to undefined (exactOptionalPropertyTypes).
    return parsed.instances.map(
      (i) =>
        Object.fromEntries(
          Object.entries(i).filter(([, v]) => v !== undefined),
        ) as unknown as DesiredInstance,
    );
  }

  private async post(path: string, body: unknown, credential: string | undefined): Promise<unknown> {
    let response: HttpAnswer;
    try {
      response = await this.http.request(new URL(`/api/v1/worker/${path}`, this.serverUrl), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(credential !== undefined && { authorization: `Bearer ${credential}` }),
        },
        body: JSON.stringify(body),
        timeoutMs: this.timeoutMs,
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ControlRequestError(`control plane unreachable: ${reason}`, null);
    }
    const { text } = response;
    if (!response.ok) {
      throw new ControlRequestError(
        `control plane answered ${response.status} to ${path}: ${errorBodyMessage(text)?.message ?? text.slice(0, 500)}`,
        response.status,
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ControlRequestError(`control plane sent invalid JSON to ${path}`, response.status);
    }
  }
}
