/**
 * What the gateway reads from an inference request before routing it: the model and the body to send
 * on (`prepareBody`), and the model id of a `/v1/models/{id}` path (`decodeModelId`).
 */
import { EdgeFleetError } from '../spec/edgefleet-error.js';

/**
 * The `model` of an inference request body, and the body to send on: a stream asks the engine for
 * `stream_options.include_usage` (the gateway meters every request; the usage chunk reaches the
 * client only if it asked for it).
 */
export function prepareBody(
  parsed: unknown,
  raw: Buffer,
  path: string,
): { model: string; body: Buffer; clientWantsUsage: boolean; stream: boolean } {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new EdgeFleetError('invalid_request', 'the request body must be a JSON object');
  }
  const fields = parsed as { model?: unknown; stream?: unknown; stream_options?: unknown };
  if (typeof fields.model !== 'string' || fields.model.length === 0) {
    throw new EdgeFleetError('invalid_request', 'model: a model name (string) is required', {
      param: 'model',
    });
  }
  const options = fields.stream_options;
  const clientWantsUsage =
    typeof options === 'object' &&
    options !== null &&
    (options as { include_usage?: unknown }).include_usage === true;
  const stream = fields.stream === true && path !== '/v1/embeddings';
  const canAsk =
    stream &&
    !clientWantsUsage &&
    (options === undefined || options === null || (typeof options === 'object' && !Array.isArray(options)));
  if (!canAsk) return { model: fields.model, body: raw, clientWantsUsage, stream };
  const body = Buffer.from(
    JSON.stringify({
      ...fields,
      stream_options: { ...(options as object | null | undefined), include_usage: true },
    }),
  );
  return { model: fields.model, body, clientWantsUsage, stream };
}

/** A model id from the path (`/v1/models/{id}`, percent-encoded); a malformed escape is a 400. */
export function decodeModelId(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new EdgeFleetError('invalid_request', `the model id in the path is not valid percent-encoding`, {
      param: 'model',
    });
  }
}
