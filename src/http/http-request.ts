/**
 * A small HTTP(S) client for EdgeFleet's own control-plane calls (worker → server, room gateway →
 * server), on node:http and node:https rather than the global fetch because Node 20's fetch cannot be
 * given a CA: with `ca` a TLS server is verified against those certificates (see tls-options.ts).
 * Connections are kept alive per client. The whole exchange (connect, send, read the answer) is bounded
 * by `timeoutMs`; an answer body over `maxResponseBytes` is an error. A GET that meets a kept-alive
 * connection the server had already closed is sent once more on a new one (stale-connection.ts); a POST
 * is not, since it may not be safe to repeat.
 */
import { Agent as PlainAgent, request as plainRequest, type IncomingMessage } from 'node:http';
import { Agent as TlsAgent, request as tlsRequest } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { isStaleConnectionReset } from './stale-connection.js';

export interface HttpRequestInit {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

export interface HttpAnswer {
  status: number;
  /** The reason phrase (`Unauthorized`), empty when the server sent none. */
  statusText: string;
  ok: boolean;
  text: string;
}

/** Raised when no HTTP answer came: refused, reset, TLS failure, timeout. `code` is Node's when known. */
export class HttpRequestError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'HttpRequestError';
  }
}

/** The request went out on a kept-alive connection the server had closed: it never read it. */
class StaleConnectionError extends HttpRequestError {}

export interface HttpClientOptions {
  /** Certificates to trust for https URLs (default: the system's, plus NODE_EXTRA_CA_CERTS). */
  ca?: string[];
  /**
   * A server certificate (SHA-256 fingerprint, `AB:CD:…`) accepted whatever host name it carries, once its
   * chain verified: `edgefleet up`'s own worker reaching its own server at a loopback address.
   */
  serverFingerprint256?: string;
  /** Default 64 MiB. */
  maxResponseBytes?: number;
}

export class HttpClient {
  // Idle connections are closed after 4 s, before a Node server's 5 s keep-alive timeout closes them
  // under a request about to be sent.
  private readonly plain = new PlainAgent({ keepAlive: true, timeout: 4000 });
  private readonly tls: TlsAgent;
  private readonly maxResponseBytes: number;

  constructor(options: HttpClientOptions = {}) {
    const pinned = options.serverFingerprint256;
    this.tls = new TlsAgent({
      keepAlive: true,
      timeout: 4000,
      ...(options.ca && { ca: options.ca }),
      ...(pinned !== undefined && {
        checkServerIdentity: (host: string, peer: PeerCertificate) =>
          peer.fingerprint256 === pinned ? undefined : checkServerIdentity(host, peer),
      }),
    });
    this.maxResponseBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
  }

  async request(url: string | URL, init: HttpRequestInit): Promise<HttpAnswer> {
    const target = typeof url === 'string' ? new URL(url) : url;
    const secure = target.protocol === 'https:';
    if (!secure && target.protocol !== 'http:') {
      throw new HttpRequestError(`unsupported URL scheme ${target.protocol}`, undefined);
    }
    try {
      return await this.send(target, secure, init);
    } catch (error) {
      if (!(error instanceof StaleConnectionError) || init.method !== 'GET') throw error;
      return this.send(target, secure, init);
    }
  }

  private send(target: URL, secure: boolean, init: HttpRequestInit): Promise<HttpAnswer> {
    const body = init.body === undefined ? undefined : Buffer.from(init.body, 'utf8');
    const headers = { ...init.headers, ...(body && { 'content-length': String(body.length) }) };
    return new Promise<HttpAnswer>((resolve, reject) => {
      let answered = false;
      let settled = false;
      const fail = (error: Error & { code?: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error instanceof HttpRequestError ? error : new HttpRequestError(error.message, error.code));
      };
      const onAnswer = (response: IncomingMessage) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxResponseBytes) {
            req.destroy(new HttpRequestError(`answer over ${this.maxResponseBytes} bytes`, undefined));
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', fail);
        response.on('aborted', () => fail(new HttpRequestError('the answer was cut off', 'ECONNRESET')));
        response.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          const status = response.statusCode ?? 0;
          resolve({
            status,
            statusText: response.statusMessage ?? '',
            ok: status >= 200 && status < 300,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      };
      const options = { method: init.method, headers, agent: secure ? this.tls : this.plain };
      const req = secure ? tlsRequest(target, options, onAnswer) : plainRequest(target, options, onAnswer);
      const timer = setTimeout(() => {
        req.destroy(new HttpRequestError(`no answer within ${init.timeoutMs} ms`, 'ETIMEDOUT'));
      }, init.timeoutMs);
      req.on('error', (error: Error & { code?: string }) =>
        fail(
          !answered && isStaleConnectionReset(req, error)
            ? new StaleConnectionError(error.message, error.code)
            : error,
        ),
      );
      req.end(body);
    });
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.plain.destroy();
    this.tls.destroy();
  }
}
