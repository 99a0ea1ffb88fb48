import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { freePort } from './http-servers.js';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * A PostgreSQL server of a test's own (initdb + pg_ctl in a temp directory, trust auth, 127.0.0.1 on a
 * free port), for tests that stop and start the database: the shared one at 127.0.0.1:5432 is used by
 * other tests at the same time and must never be restarted. As root it runs as the `postgres` user
 * (initdb refuses root). `remove()` stops it and deletes its directory; call it in afterAll.
 */
export interface PrivatePostgres {
  port: number;
  /** `postgres://postgres@127.0.0.1:<port>/<database>`. */
  url(database?: string): string;
  /** Creates a database (no-op if it exists) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** `pg_ctl stop -m <mode>` (fast: running sessions are terminated); waits until it is down. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** `pg_ctl start`; waits until it accepts connections. */
  start(): Promise<void>;
  /** The server log (for failure messages). */
  log(): Promise<string>;
  /** Stops it (immediate) if running and deletes its data directory; never throws. */
  remove(): Promise<void>;
}

const binRoot = '/usr/lib/postgresql';

/** The bin directory of the newest PostgreSQL installed under /usr/lib/postgresql with initdb and pg_ctl. */
function findBinDir(): string | undefined {
  if (!existsSync(binRoot)) return undefined;
  const versions = readdirSync(binRoot)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  return versions
    .map((v) => join(binRoot, v, 'bin'))
    .find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
}

interface RunAs {
  uid: number;
  gid: number;
}

function postgresUser(): Promise<RunAs | undefined> {
  return new Promise((resolve) => {
    execFile('id', ['-u', 'postgres'], (error, uid) => {
      if (error) return resolve(undefined);
      execFile('id', ['-g', 'postgres'], (error2, gid) => {
        if (error2) return resolve(undefined);
        resolve({ uid: Number(uid.trim()), gid: Number(gid.trim()) });
      });
    });
  });
}

/**
 * Why a private PostgreSQL cannot run here (for `describe.skipIf` and its message), or undefined when
 * it can: initdb and pg_ctl must be installed, and as root the `postgres` user and runuser must exist.
 */
export function privatePostgresUnavailable(): string | undefined {
  if (findBinDir() === undefined) return `no initdb/pg_ctl under ${binRoot}/*/bin`;
  if (userInfo().uid === 0 && !existsSync('/usr/sbin/runuser') && !existsSync('/sbin/runuser')) {
    return 'running as root without runuser (initdb refuses root)';
  }
  return undefined;
}

/** Initializes and starts a private PostgreSQL; throws with the reason when it cannot. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const unavailable = privatePostgresUnavailable();
  if (unavailable !== undefined) throw new Error(`private PostgreSQL unavailable: ${unavailable}`);
  const binDir = findBinDir()!;
  const asRoot = userInfo().uid === 0;
  const runAs = asRoot ? await postgresUser() : undefined;
  if (asRoot && runAs === undefined) throw new Error('private PostgreSQL: no `postgres` user to run it as');
  const dir = await mkdtemp(join(tmpdir(), 'ef-private-pg-'));
  if (runAs) await chown(dir, runAs.uid, runAs.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const port = await freePort();

  const tool = (name: string, args: string[], timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      const command = runAs ? 'runuser' : join(binDir, name);
      const fullArgs = runAs ? ['-u', 'postgres', '--', join(binDir, name), ...args] : args;
      execFile(command, fullArgs, { timeout: timeoutMs, cwd: dir }, (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${name} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      });
    });
  const log = () => readFile(logFile, 'utf8').catch(() => '');
  const options = [
    `-p ${port}`,
    "-c listen_addresses='127.0.0.1'",
    `-c unix_socket_directories='${dir}'`,
    '-c fsync=off',
    '-c shared_buffers=16MB',
    '-c max_connections=60',
  ].join(' ');
  let running = false;
  const start = async () => {
    await tool('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', options, '-w', '-t', '60', 'start']).catch(
      async (error: unknown) => {
        throw new Error(`${String(error)}\n${await log()}`);
      },
    );
    running = true;
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    await tool('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    running = false;
  };
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;

  try {
    await tool('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
    await start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 5000 });
      await client.connect();
      try {
        const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        if (found.rowCount === 0) await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
    start,
    log,
    async remove() {
      if (running) {
        await stop('immediate').catch(async () => {
          // pg_ctl failed: end the postmaster by the PID it wrote.
          const pid = Number(
            (await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0],
          );
          if (pid > 0) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        });
      }
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
