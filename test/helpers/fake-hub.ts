import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Where `edgefleet up` fetches its default model, under `${HF_ENDPOINT}`. */
export const defaultModelPath =
  '/bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF/resolve/main/DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf';

export interface FakeHub {
  /** What to set HF_ENDPOINT to. */
  url: string;
  /** The path of every request so far. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A local stand-in for Hugging Face: serves `bytes` as the default model (with the `x-linked-etag`
 * checksum Hugging Face sends), 404 for anything else. With `stallAfterBytes`, it sends only that many
 * and then nothing until the client goes away: a download that is still running.
 */
export async function startFakeHub(
  bytes: Buffer,
  options: { stallAfterBytes?: number } = {},
): Promise<FakeHub> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(request.url ?? '');
    if (request.url !== defaultModelPath) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': bytes.length,
      'x-linked-etag': `"${sha256}"`,
    });
    if (options.stallAfterBytes === undefined) response.end(bytes);
    else response.write(bytes.subarray(0, options.stallAfterBytes));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
