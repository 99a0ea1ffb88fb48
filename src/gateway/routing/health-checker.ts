/**
 * Active health checks: every `intervalMs`, `GET {url}{path}` on each routed instance with a timeout.
 * `unhealthyAfter` failures in a row (unreachable, timeout, 5xx or 429) mark an instance down, and
 * `healthyAfter` good answers mark it up again; any answer below 500 other than 429 is good, so an engine
 * without a health route (404) is not shut out. Each answer's round-trip time is reported (the router
 * keeps it per site). Instances never checked count as up.
 */
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as TlsAgent, request as httpsRequest } from 'node:https';
import { upstreamUrl } from '../streaming/upstream-pool.js';

export interface HealthTarget {
  key: string;
  url: string;
  siteName: string;
}

export interface HealthSettings {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  unhealthyAfter: number;
  healthyAfter: number;
}

interface TargetHealth {
  up: boolean;
  failures: number;
  successes: number;
}

/** A fresh connection per check (a pooled one would hide a dead listener and skew the RTT less truly). */
const plainAgent = new Agent({ keepAlive: false });
/** https instances (external endpoints): verified against the system's CAs and NODE_EXTRA_CA_CERTS. */
const tlsAgent = new TlsAgent({ keepAlive: false });

export class HealthChecker {
  private readonly health = new Map<string, TargetHealth>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly settings: HealthSettings,
    private readonly targets: () => Promise<HealthTarget[]>,
    private readonly report: {
      rtt(target: HealthTarget, rttMs: number): void;
      change(target: HealthTarget, up: boolean, detail: string): void;
    },
  ) {}

  /** Whether the instance may get requests (true until checks say otherwise). */
  isUp(key: string): boolean {
    return this.health.get(key)?.up ?? true;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = () => {
      // checkAll does not throw; a bug there must not end the process as an unhandled rejection.
      this.running = this.checkAll()
        .catch(() => undefined)
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, this.settings.intervalMs).unref();
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One round of checks over the current targets (exposed for tests). */
  async checkAll(): Promise<void> {
    let targets: HealthTarget[];
    try {
      targets = await this.targets();
    } catch {
      return; // the route source is down; keep the last verdicts
    }
    const live = new Set(targets.map((t) => t.key));
    for (const key of this.health.keys()) if (!live.has(key)) this.health.delete(key);
    await Promise.all(targets.map((target) => this.checkOne(target)));
  }

  private async checkOne(target: HealthTarget): Promise<void> {
    const startedAt = performance.now();
    const result = await probe(target.url, this.settings.path, this.settings.timeoutMs);
    if (this.stopped) return;
    const state = this.health.get(target.key) ?? { up: true, failures: 0, successes: 0 };
    this.health.set(target.key, state);
    if (result.ok) {
      this.report.rtt(target, performance.now() - startedAt);
      state.failures = 0;
      state.successes += 1;
      if (!state.up && state.successes >= this.settings.healthyAfter) {
        state.up = true;
        this.report.change(target, true, result.detail);
      }
    } else {
      state.successes = 0;
      state.failures += 1;
      if (state.up && state.failures >= this.settings.unhealthyAfter) {
        state.up = false;
        this.report.change(target, false, result.detail);
      }
    }
  }
}

function probe(baseUrl: string, path: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const onAnswer = (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      response.resume();
      response.on('error', () => undefined);
      resolve({ ok: status > 0 && status < 500 && status !== 429, detail: `health answered ${status}` });
    };
    try {
      const url = upstreamUrl(baseUrl, path);
      const request =
        url.protocol === 'https:'
          ? httpsRequest(url, { method: 'GET', agent: tlsAgent, timeout: timeoutMs }, onAnswer)
          : httpRequest(url, { method: 'GET', agent: plainAgent, timeout: timeoutMs }, onAnswer);
      request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      request.on('error', (error) => resolve({ ok: false, detail: `health check failed: ${error.message}` }));
      request.end();
    } catch (error) {
      // A URL node:http cannot send to (a scheme it does not speak): a failed check, not a crash.
      resolve({
        ok: false,
        detail: `health check failed: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  });
}
