/**
 * Optional TLS, end to end with real certificates made by `openssl` (a private CA and a server
 * certificate for 127.0.0.1): `edgefleet server --tls-cert/--tls-key` listens with HTTPS; a worker
 * registers over HTTPS with `--tls-ca` (and cannot without it); a room gateway pulls from the HTTPS server
 * with `--tls-ca` and serves HTTPS itself; the official `openai` client chats through both (trusting the
 * CA with NODE_EXTRA_CA_CERTS); management commands trust it the same way; `edgefleet up` serves HTTPS to
 * its own worker. Plain HTTP to a TLS port fails cleanly, and bad flag combinations are usage errors.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel, type TestModel } from '../helpers/models.js';
import { rows, runCli, startCli } from '../fleet/fleet-processes.js';
import { addEndpoint, api, Fleet, send, startUpstream } from './security-fleet.js';

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasOpenssl) console.warn('skipping the TLS tests: the openssl command is not installed');

const run = promisify(execFile);

/** A private CA and a server certificate signed by it for 127.0.0.1 and localhost (EC P-256, 2 days). */
async function makeCertificates(dir: string) {
  const at = (file: string) => join(dir, file);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    ...['req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '2'],
    ...['-subj', '/CN=EdgeFleet Test CA', '-addext', 'basicConstraints=critical,CA:TRUE'],
    ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  ]);
  await run('openssl', [
    'req',
    ...ec,
    '-keyout',
    at('server.key'),
    '-out',
    at('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  await writeFile(
    at('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  await run('openssl', [
    ...['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key')],
    ...['-CAcreateserial', '-out', at('server.pem'), '-days', '2', '-extfile', at('server.ext')],
  ]);
  // A self-signed certificate for `edgefleet up` (no CA needed by its own worker).
  await run('openssl', [
    ...['req', '-x509', ...ec, '-keyout', at('self.key'), '-out', at('self.pem'), '-days', '2'],
    ...['-subj', '/CN=edge.example', '-addext', 'subjectAltName=DNS:edge.example'],
  ]);
  return {
    ca: at('ca.pem'),
    caKey: at('ca.key'),
    cert: at('server.pem'),
    key: at('server.key'),
    selfCert: at('self.pem'),
    selfKey: at('self.key'),
    notPem: at('server.ext'),
  };
}

/** Runs the official openai client in a child process that trusts `caFile`; returns the answer's text. */
async function chatWithOpenAi(
  baseUrl: string,
  apiKey: string,
  model: string,
  caFile: string,
): Promise<string> {
  const script = `
    import OpenAI from 'openai';
    const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
    const answer = await client.chat.completions.create({
      model: process.env.MODEL, messages: [{ role: 'user', content: 'hi there' }], temperature: 0,
    });
    process.stdout.write(answer.choices[0].message.content);
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: process.cwd(),
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: caFile,
      BASE_URL: `${baseUrl}/v1`,
      API_KEY: apiKey,
      MODEL: model,
    },
    timeout: 30_000,
  });
  return stdout;
}

describe.skipIf(!hasOpenssl)('TLS', () => {
  const fleet = new Fleet();
  let certs: Awaited<ReturnType<typeof makeCertificates>>;
  let caPem: string;
  let model: TestModel;

  beforeAll(async () => {
    certs = await makeCertificates(await fleet.tempDir('ef-sec-certs-'));
    caPem = await readFile(certs.ca, 'utf8');
    model = await makeTestModel({});
  });

  afterAll(() => fleet.close());

  it('refuses half or unusable TLS flags with a usage error, before listening', async () => {
    const home = await fleet.tempDir('ef-sec-flags-');
    const cases: [string[], RegExp][] = [
      [['server', '--tls-cert', certs.cert], /--tls-cert and --tls-key go together/],
      [['server', '--tls-key', certs.key], /--tls-cert and --tls-key go together/],
      [
        ['server', '--tls-cert', join(home, 'missing.pem'), '--tls-key', certs.key],
        /--tls-cert .*missing\.pem: ENOENT/,
      ],
      [['server', '--tls-cert', certs.cert, '--tls-key', certs.caKey], /not a usable certificate and key/],
      [['server', '--tls-cert', certs.key, '--tls-key', certs.key], /not a usable certificate and key/],
      [
        ['gateway', '--server', 'https://127.0.0.1:1', '--site', 's', '--tls-cert', certs.cert],
        /go together/,
      ],
      [
        ['gateway', '--server', 'https://127.0.0.1:1', '--site', 's', '--tls-ca', join(home, 'no-ca.pem')],
        /--tls-ca .*ENOENT/,
      ],
      [
        ['worker', '--server', 'https://127.0.0.1:1', '--site', 's', '--tls-ca', certs.notPem],
        /--tls-ca .*not a PEM file/,
      ],
      [['up', '--tls-key', certs.key], /--tls-cert and --tls-key go together/],
    ];
    for (const [index, [args, message]] of cases.entries()) {
      const result = await runCli([...args, '--home', join(home, String(index))]);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(message);
    }
  });

  it('serves HTTPS: workers, a room gateway, management commands and the openai client trust the CA', async () => {
    const server = await fleet.server(['--tls-cert', certs.cert, '--tls-key', certs.key, '--context', '512']);
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await send(`${server.url}/health`, { ca: caPem });
    expect(health.status).toBe(200);

    // Plain HTTP to the TLS port fails cleanly (the connection is closed; nothing is served).
    const plain = await send(server.url.replace('https:', 'http:') + '/health').then(
      (answer) => `answered ${answer.status}`,
      (error: NodeJS.ErrnoException) => error.code ?? error.message,
    );
    expect(plain).toMatch(/ECONNRESET|socket hang up|HPE_/);
    // A client that does not trust the CA is refused by its own TLS check.
    const untrusted = await send(`${server.url}/health`).then(
      () => 'answered',
      (error: NodeJS.ErrnoException) => error.code ?? error.message,
    );
    expect(untrusted).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    expect((await send(`${server.url}/health`, { ca: caPem })).status).toBe(200);

    // Management commands: NODE_EXTRA_CA_CERTS, and a hint when it is missing.
    const connection = ['--server', server.url, '--api-key', server.adminKey];
    const refused = await runCli(['nodes', ...connection]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('NODE_EXTRA_CA_CERTS');
    const listed = await runCli(['nodes', ...connection], { NODE_EXTRA_CA_CERTS: certs.ca });
    expect(listed.code).toBe(0);

    // A worker without --tls-ca cannot register; with it, it registers and runs the model.
    const workerArgs = (home: string, name: string) => [
      'worker',
      ...['--server', server.url, '--token', server.joinToken, '--site', 'north', '--name', name],
      ...['--home', home, '--heartbeat-ms', '200', '--threads', '1', '--parallel', '1'],
    ];
    const untrustingWorker = startCli(workerArgs(await fleet.tempDir('ef-sec-w0-'), 'untrusting'));
    fleet.processes.push(untrustingWorker);
    await waitFor(
      async () => (/certificate|UNABLE_TO|self.signed/i.test(untrustingWorker.output()) ? true : undefined),
      15_000,
      'the untrusting worker to report the certificate',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${untrustingWorker.output()}`);
    });
    await untrustingWorker.stop();
    expect(
      rows((await api(server.url, server.adminKey, 'GET', '/api/v1/nodes', undefined, caPem)).json),
    ).toEqual([]);

    const worker = startCli([
      ...workerArgs(await fleet.tempDir('ef-sec-w1-'), 'node-north'),
      '--tls-ca',
      certs.ca,
    ]);
    fleet.processes.push(worker);
    const deployed = await api(
      server.url,
      server.adminKey,
      'POST',
      '/api/v1/deployments',
      { name: 'tiny', model: model.path, replicas: 1 },
      caPem,
    );
    expect(deployed.status).toBe(201);
    await waitFor(
      async () => {
        const instances = await api(
          server.url,
          server.adminKey,
          'GET',
          '/api/v1/instances',
          undefined,
          caPem,
        );
        return rows(instances.json).some((i) => i['state'] === 'running') ? true : undefined;
      },
      45_000,
      'a running instance',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${worker.output()}\n${server.proc.output()}`);
    });
    const key = await api(server.url, server.adminKey, 'POST', '/api/v1/keys', { name: 'user' }, caPem);
    const secret = key.json?.['key'] as string;
    expect(await chatWithOpenAi(server.url, secret, 'tiny', certs.ca)).toBe(model.expectedText);

    // A room gateway: HTTPS to the server with --tls-ca, HTTPS to its clients.
    const gateway = await fleet.gateway(server.url, server.adminKey, 'north', [
      ...['--tls-ca', certs.ca, '--tls-cert', certs.cert, '--tls-key', certs.key],
    ]);
    expect(gateway.url).toMatch(/^https:\/\//);
    await waitFor(
      async () => {
        const body = (await send(`${gateway.url}/health`, { ca: caPem })).json as {
          controlPlane?: { reachable?: boolean };
          routes?: { instances?: number };
        };
        return body.controlPlane?.reachable === true && body.routes?.instances === 1 ? true : undefined;
      },
      15_000,
      'the gateway to pull its routes over HTTPS',
    );
    expect(await chatWithOpenAi(gateway.url, secret, 'tiny', certs.ca)).toBe(model.expectedText);
    await expect(send(gateway.url.replace('https:', 'http:') + '/health')).rejects.toThrow();
  }, 150_000);

  it('routes to an external endpoint over HTTPS under a path prefix, trusting a private CA', async () => {
    // An OpenAI-compatible server a team runs behind HTTPS at https://127.0.0.1:PORT/team-a, with a
    // certificate of the private CA, which the control plane trusts through NODE_EXTRA_CA_CERTS.
    const tls = { cert: await readFile(certs.cert, 'utf8'), key: await readFile(certs.key, 'utf8') };
    const upstream = await startUpstream('tls-endpoint', { tls, prefix: '/team-a' });
    fleet.onClose(upstream.close);
    const home = await fleet.tempDir('ef-sec-routing-');
    await writeFile(join(home, 'routing.yaml'), 'healthCheck: { intervalMs: 200 }\n');
    const server = await fleet.server(['--routing-config', join(home, 'routing.yaml')], {
      NODE_EXTRA_CA_CERTS: certs.ca,
    });
    await addEndpoint(server.url, server.adminKey, 'remote', `${upstream.url}/v1`);
    const key = await api(server.url, server.adminKey, 'POST', '/api/v1/keys', { name: 'user' });
    const secret = key.json?.['key'] as string;
    expect(await chatWithOpenAi(server.url, secret, 'remote', certs.ca)).toBe('from tls-endpoint');
    // The gateway's health checks (every 200 ms here) reach it over HTTPS under its prefix, and the
    // server lives on: an https instance once ended the process from inside its health checker.
    await waitFor(
      async () =>
        upstream.seen.filter((line) => line === 'GET /team-a/health').length >= 3 ? true : undefined,
      10_000,
      'three health checks of the endpoint',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${upstream.seen.join('\n')}\n${server.proc.output()}`);
    });
    expect(server.proc.child.exitCode).toBeNull();
    expect(upstream.seen).toContain('POST /team-a/v1/chat/completions');
    expect(upstream.seen.filter((line) => !line.startsWith('GET /team-a/'))).toEqual([
      'POST /team-a/v1/chat/completions',
    ]);
  }, 60_000);

  it('runs `edgefleet up` over HTTPS with a self-signed certificate that does not name its address', async () => {
    const home = await fleet.tempDir('ef-sec-up-');
    const up = await fleet.start(
      ['up', '--home', home, '--port', '0', '--threads', '1', '--model', model.path, '--name', 'tiny'].concat(
        [...['--tls-cert', certs.selfCert, '--tls-key', certs.selfKey]],
      ),
      /listening on (https:\/\/\S+?)\/v1/,
      'edgefleet up',
    );
    const selfPem = await readFile(certs.selfCert, 'utf8');
    // The certificate names edge.example, not 127.0.0.1: a client checks it as that name.
    const health = await waitFor(
      async () => {
        const answer = await send(`${up.url}/health`, { ca: selfPem, servername: 'edge.example' });
        return answer.status === 200 ? answer : undefined;
      },
      45_000,
      'up to be ready',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${up.proc.output()}`);
    });
    expect(health.status).toBe(200);
  }, 90_000);
});
