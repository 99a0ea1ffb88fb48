/**
 * TLS material for EdgeFleet's servers and clients, read once from PEM files at start:
 * `--tls-cert FILE --tls-key FILE` (both or neither) make a server listen with HTTPS; `--tls-ca FILE`
 * makes a client trust a private CA besides the system's. Every problem is a clear `invalid_argument`
 * naming the flag and the file, raised before anything listens.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext, rootCertificates } from 'node:tls';
import { EdgeFleetError } from '../spec/edgefleet-error.js';

/** A server's certificate (chain) and private key, PEM. */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
}

async function readPem(flag: string, path: string): Promise<Buffer> {
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (error) {
    throw new EdgeFleetError('invalid_argument', `${flag} ${path}: ${(error as Error).message}`, {
      param: flag.slice(2),
    });
  }
  if (!text.includes('-----BEGIN ')) {
    throw new EdgeFleetError('invalid_argument', `${flag} ${path}: not a PEM file`, { param: flag.slice(2) });
  }
  return text;
}

/**
 * `--tls-cert` and `--tls-key`: undefined when neither is given; the files when both are and they make a
 * usable pair (a certificate and the key it was issued for); an error otherwise.
 */
export async function readServerTls(
  certPath: string | undefined,
  keyPath: string | undefined,
): Promise<ServerTls | undefined> {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    throw new EdgeFleetError(
      'invalid_argument',
      `--tls-cert and --tls-key go together: give both (HTTPS) or neither (plain HTTP)`,
      { param: certPath === undefined ? 'tls-cert' : 'tls-key' },
    );
  }
  const cert = await readPem('--tls-cert', certPath);
  const key = await readPem('--tls-key', keyPath);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new EdgeFleetError(
      'invalid_argument',
      `--tls-cert ${certPath} and --tls-key ${keyPath} are not a usable certificate and key: ${(error as Error).message}`,
      { param: 'tls-cert' },
    );
  }
  return { cert, key };
}

/**
 * `--tls-ca FILE`: the certificates a client trusts, i.e. the system's roots plus those in the file
 * (the same as NODE_EXTRA_CA_CERTS does for a whole process); undefined without the flag.
 */
export async function readTrustedCas(path: string | undefined): Promise<string[] | undefined> {
  if (path === undefined) return undefined;
  const pem = (await readPem('--tls-ca', path)).toString('utf8');
  try {
    createSecureContext({ ca: pem });
  } catch (error) {
    throw new EdgeFleetError('invalid_argument', `--tls-ca ${path}: ${(error as Error).message}`, {
      param: 'tls-ca',
    });
  }
  return [...rootCertificates, pem];
}
