import type { IncomingMessage } from 'node:http';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { Store } from '../../store/store.js';
import type { ApiKey, StoredNode } from '../../store/store-types.js';
import { hashSecret, hashesEqual } from './secrets.js';

/** The bearer secret of a request, or a 401. */
export function bearerSecret(request: IncomingMessage): string {
  const header = request.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) {
    throw new EdgeFleetError('unauthorized', 'missing credential: send "Authorization: Bearer <key>"');
  }
  return match[1];
}

/** The admin key of a request: 401 when missing, unknown or revoked; 403 when not an admin key. */
export async function requireAdmin(store: Store, request: IncomingMessage): Promise<ApiKey> {
  const key = await requireApiKey(store, request);
  if (key.role !== 'admin') {
    throw new EdgeFleetError('forbidden', 'this API key may not use the management API (admin key required)');
  }
  return key;
}

/** The node whose credential the request carries; 401 when unknown or revoked. */
export async function requireNode(store: Store, request: IncomingMessage): Promise<StoredNode> {
  const hash = hashSecret(bearerSecret(request));
  const node = await store.findNodeByCredentialHash(hash);
  if (!node || node.revokedAtMs !== null || !hashesEqual(node.credentialHash, hash)) {
    throw new EdgeFleetError('unauthorized', 'invalid or revoked node credential');
  }
  return node;
}

/** The API key of an inference request (`/v1/…`): any key that is not revoked; 401 otherwise. */
export async function requireApiKey(store: Store, request: IncomingMessage): Promise<ApiKey> {
  const hash = hashSecret(bearerSecret(request));
  const key = await store.findApiKeyByHash(hash);
  if (!key || key.revokedAtMs !== null || !hashesEqual(key.keyHash, hash)) {
    throw new EdgeFleetError('unauthorized', 'invalid or revoked API key');
  }
  return key;
}
