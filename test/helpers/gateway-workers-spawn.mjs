/**
 * A cluster primary run by runGatewayWorkers (from `dist/`), whose workers are tiny HTTP servers that
 * answer with their pid. Scenarios: worker starts that fail the two ways a spawn can fail: node refusing
 * the arguments at once (a synchronous throw, as ENOMEM is) and the spawn failing afterwards (an 'error'
 * event and no 'exit', as EAGAIN is; here ENOENT from a working directory that does not exist); and a
 * worker killed while connections are on their way to it (`killed-while-handing`). Prints one JSON line
 * on stdout: the exit code runGatewayWorkers resolved with, the log lines it wrote, and what answered.
 *
 *   node test/helpers/gateway-workers-spawn.mjs throw-at-start | enoent-at-start | fail-on-restart |
 *     killed-while-handing
 */
import cluster from 'node:cluster';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const scenario = process.argv[2];
const badArgument = ['--no-such-flag\0'];
const missingDirectory = '/nonexistent-edgefleet-test-dir';

/**
 * What answers a request on a new connection to `port`: the worker's pid, 'closed' when the connection
 * closed without an answer, 'no answer' when nothing came within 3 s.
 */
function answeringPid(port) {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, agent: false, timeout: 3000 }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (part) => (text += part));
      response.on('end', () => resolve(Number(text)));
    });
    request.on('timeout', () => (resolve('no answer'), request.destroy()));
    request.on('error', () => resolve('closed'));
  });
}

/**
 * Worker 1 is stopped (SIGSTOP), four connections come one after another (the primary hands them to
 * workers 0, 1, 0, 1: the first for worker 1 is sent, the second waits behind it), then worker 1 is killed.
 */
async function killWhileHanding(port) {
  // Forked second (cluster ids count from 1 in the order of forks).
  const worker1 = cluster.workers[2];
  process.kill(worker1.process.pid, 'SIGSTOP');
  const answers = [];
  for (let i = 0; i < 4; i += 1) {
    answers.push(answeringPid(port));
    await sleep(100);
  }
  process.kill(worker1.process.pid, 'SIGKILL');
  return Promise.all(answers);
}

if (cluster.isWorker) {
  const { takeConnections } = await import('../../dist/gateway/sync/connection-handout.js');
  const server = http.createServer((_request, response) => response.end(String(process.pid)));
  takeConnections(server).ready();
} else {
  const { runGatewayWorkers } = await import('../../dist/gateway/sync/gateway-workers.js');
  const { readyMessage } = await import('../../dist/gateway/sync/connection-handout.js');
  const lines = [];
  const pids = [];
  let port = 0;
  let failedStarts = 0;

  const onLine = (message) => {
    if (scenario !== 'fail-on-restart' || !message.startsWith('a gateway worker could not be started;'))
      return;
    failedStarts += 1;
    // First a throw, then an 'error' event, then a start that works.
    if (failedStarts === 1) cluster.setupPrimary({ execArgv: [], cwd: missingDirectory });
    if (failedStarts === 2) {
      cluster.setupPrimary({ cwd: process.cwd() });
      cluster.on('message', (_worker, message) => {
        if (message?.type !== readyMessage) return;
        void answeringPid(port).then((pid) => {
          pids.push(pid);
          process.kill(process.pid, 'SIGTERM');
        });
      });
    }
  };
  const record = (level) => (fields, message) => {
    const { err, code, restartInMs, handedOn, closed } = fields;
    lines.push({ level, message, error: err?.code ?? err?.message, code, restartInMs, handedOn, closed });
    onLine(message);
  };
  const log = { info: record('info'), warn: record('warn'), error: record('error') };

  if (scenario === 'throw-at-start') cluster.setupPrimary({ execArgv: badArgument });
  if (scenario === 'enoent-at-start') cluster.setupPrimary({ cwd: missingDirectory });
  const code = await runGatewayWorkers({
    // Two at the start (the second must not be started once the first failed), one for the restarts.
    count: scenario === 'fail-on-restart' ? 1 : 2,
    log,
    host: '127.0.0.1',
    port: 0,
    restartBackoffMs: 100,
    onListening: (address) => {
      port = address.port;
      if (scenario === 'killed-while-handing')
        void killWhileHanding(port).then((answers) => {
          pids.push(...answers);
          process.kill(process.pid, 'SIGTERM');
        });
      if (scenario !== 'fail-on-restart') return;
      void answeringPid(port).then((pid) => {
        pids.push(pid);
        cluster.setupPrimary({ execArgv: badArgument });
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      });
    },
  });
  process.stdout.write(`${JSON.stringify({ code, lines, pids })}\n`);
}
