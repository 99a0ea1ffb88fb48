/**
 * The per-room gateway's HTTP client for its control plane: admin-key GETs of the sync endpoints and
 * POSTs of usage batches, each bounded by a timeout so a dead or hung control plane never stalls the
 * caller; over HTTPS, the control plane's certificate is checked against `ca` (`--tls-ca`). Failures are EdgeFleetErrors (`engine_unavailable` when unreachable, the server's code
 * otherwise); `reachable` tells whether the last call got an HTTP answer.
 */
import { HttpClient, type HttpAnswer } from '../../http/http-request.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { ErrorCode } from '../../spec/error-codes.js';
import { errorCodes } from '../../spec/error-codes.js';
import type { UsageEvent } from '../../spec/usage-event.js';

export interface ControlPlaneClientOptions {
  /** The control plane's base URL, e.g. `http://10.0.0.1:8080`. */
  serverUrl: string;
  /** An admin API key (a per-room gateway runs with the admin key for now). */
  apiKey: string;
  /** Per-request limit. Default 3000. */
  timeoutMs?: number;
  /** Certificates an https control plane is checked against; default: the system's. */
  ca?: string[];
}

export class ControlPlaneClient {
  readonly serverUrl: string;
  /** Whether the last request got an HTTP answer (any status). */
  reachable = false;
  /** When a request last got an HTTP answer (epoch ms); 0 for never. */
  lastContactAtMs = 0;
  /**
   * Why the control plane refused this gateway's own key (401/403: revoked, or not a gateway or admin
   * key), until a request succeeds again; null while it is accepted.
   */
  credentialRefused: string | null = null;

  private readonly http: HttpClient;

  constructor(private readonly options: ControlPlaneClientOptions) {
    this.serverUrl = options.serverUrl.replace(/\/+$/, '');
    this.http = new HttpClient(options.ca ? { ca: options.ca } : {});
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.http.close();
  }

  /** GETs a JSON body; `timeoutMs` overrides the default for this call. */
  async getJson(path: string, timeoutMs?: number): Promise<unknown> {
    const response = await this.request('GET', path, undefined, timeoutMs);
    return JSON.parse(response.text) as unknown;
  }

  /** Scale to zero: reports a request in flight for a deployment (`POST /api/v1/gateway/activate`). */
  readonly activate = async (deploymentId: string): Promise<void> => {
    await this.request('POST', '/api/v1/gateway/activate', JSON.stringify({ deploymentId }));
  };

  /** Ships usage events to `POST /api/v1/usage/events` (idempotent by event id on the server). */
  readonly shipUsage = async (events: UsageEvent[]): Promise<void> => {
    await this.request('POST', '/api/v1/usage/events', JSON.stringify({ events }));
  };

  private async request(
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    timeoutMs = this.options.timeoutMs ?? 3000,
  ): Promise<HttpAnswer> {
    let response: HttpAnswer;
    try {
      response = await this.http.request(`${this.serverUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.options.apiKey}`,
          accept: 'application/json',
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body }),
        timeoutMs,
      });
    } catch (error) {
      this.reachable = false;
      const why = error instanceof Error ? error.message : String(error);
      throw new EdgeFleetError('engine_unavailable', `control plane ${this.serverUrl} unreachable: ${why}`);
    }
    this.reachable = true;
    this.lastContactAtMs = Date.now();
    if (response.ok) {
      this.credentialRefused = null;
      return response;
    }
    const { text } = response;
    let code: ErrorCode = response.status >= 500 ? 'engine_unavailable' : 'invalid_request';
    let message = text.slice(0, 300);
    try {
      const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      if (typeof parsed.error?.code === 'string' && parsed.error.code in errorCodes) {
        code = parsed.error.code as ErrorCode;
      }
      if (typeof parsed.error?.message === 'string') message = parsed.error.message;
    } catch {
      // not JSON: keep the text
    }
    if (response.status === 401 || response.status === 403) this.credentialRefused = message;
    throw new EdgeFleetError(
      code,
      `control plane answered ${response.status} to ${method} ${path}: ${message}`,
      {
        data: { status: response.status },
      },
    );
  }
}
