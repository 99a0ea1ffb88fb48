/**
 * Bearer secrets, for every server that takes one: reading `Authorization: Bearer <secret>`, the hash a
 * store keeps instead of a secret (hex sha256), and constant-time comparison of such hashes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { EdgeFleetError } from '../spec/edgefleet-error.js';

/** The secret of an `Authorization: Bearer <secret>` header value; 401 `unauthorized` otherwise. */
export function bearerToken(authorization: string | undefined): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match?.[1]) {
    throw new EdgeFleetError('unauthorized', 'missing credential: send "Authorization: Bearer <key>"');
  }
  return match[1];
}

/** What a store keeps instead of a secret: hex sha256. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

const sha256Hex = /^[0-9a-f]{64}$/;

/**
 * Constant-time comparison of two hex sha256 hashes (as hashSecret makes them). Anything else is unequal:
 * `Buffer.from(…, 'hex')` would turn non-hex text into an empty buffer, and two empty buffers match.
 */
export function hashesEqual(a: string, b: string): boolean {
  if (!sha256Hex.test(a) || !sha256Hex.test(b)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/**
 * For a server with exactly one secret (an engine's key): throws 401 `unauthorized` unless the request
 * carries `Authorization: Bearer <secret>`. Compared as hashes, so neither the secret's length nor its
 * content leaks through timing.
 */
export function requireBearer(request: IncomingMessage, secret: string): void {
  if (!hashesEqual(hashSecret(bearerToken(request.headers.authorization)), hashSecret(secret))) {
    throw new EdgeFleetError('unauthorized', 'invalid engine key');
  }
}
