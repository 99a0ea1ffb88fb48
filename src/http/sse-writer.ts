import type { ServerResponse } from 'node:http';
import { toOpenAiError } from '../spec/edgefleet-error.js';

/**
 * Server-sent events in OpenAI's streaming format: `data: {json}\n\n` per event, `data: [DONE]` only after
 * a successful end. A failure after the first byte ends the stream with an error event and no [DONE], so
 * a client can never mistake a broken stream for a finished one.
 */
export class SseWriter {
  private started = false;

  constructor(
    private readonly response: ServerResponse,
    private readonly headers: Record<string, string> = {},
  ) {}

  get closed(): boolean {
    return this.response.destroyed || this.response.writableEnded;
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...this.headers,
    });
    this.response.flushHeaders();
  }

  /** Writes one event; returns false when the client is gone. */
  send(event: unknown): boolean {
    if (this.closed) return false;
    this.start();
    this.response.write(`data: ${JSON.stringify(event)}\n\n`);
    return true;
  }

  done(): void {
    if (this.closed) return;
    this.start();
    this.response.end('data: [DONE]\n\n');
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.start();
    const { body } = toOpenAiError(error);
    this.response.end(`data: ${JSON.stringify(body)}\n\n`);
  }
}
