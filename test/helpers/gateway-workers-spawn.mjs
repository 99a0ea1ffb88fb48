/**
 * A cluster primary run by runGatewayWorkers (from `dist/`), whose workers are tiny HTTP servers that
 * answer with their pid. Scenarios: worker starts that fail the two ways a spawn can fail: node refusing
 * the arguments at once (a synchronous throw, as ENOMEM is) and the spawn failing afterwards (an 'error'
 * event and no 'exit', as EAGAIN is; here ENOENT from a working directory that does not exist); a
 * worker killed while connections are on their way to it (`killed-while-handing`); a worker out of file
 * descriptors when one is sent to it (`out-of-descriptors`); a worker shutting down alone
 * (`worker-stopping`). Prints one JSON line
 * on stdout: the exit code runGatewayWorkers resolved with, the log lines it wrote, the pids that answered
 * and (killed-while-handing) what answered each connection.
 *
 *   node test/helpers/gateway-workers-spawn.mjs throw-at-start | enoent-at-start | fail-on-restart |
 *     killed-while-handing | out-of-descriptors | worker-stopping
 */
import cluster from 'node:cluster';
import { closeSync, openSync } from 'node:fs';
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

/** `{ answer }` of a request on a new connection to `port` (as answeringPid). */
const answerOn = (port) => answeringPid(port).then((answer) => ({ answer }));

/** `count` requests from `ask`, `gapMs` apart (after each): their answers, still to come. */
async function askInTurn(count, gapMs, ask) {
  const answers = [];
  for (let i = 0; i < count; i += 1) {
    answers.push(ask());
    await sleep(gapMs);
  }
  return answers;
}

/**
 * Worker 1 is stopped (SIGSTOP) and four connections come 100 ms apart: the primary hands the first to
 * worker 0, the second to worker 1, and the next two to worker 0 (worker 1 has not confirmed its one).
 * 1.3 s later (past the primary's 1 s wait for a confirmation) a fifth comes, for worker 1: Node holds it
 * in the primary behind the unconfirmed one. Then worker 1 is killed.
 */
async function killWhileHanding(port) {
  // Forked second (cluster ids count from 1 in the order of forks).
  const worker1 = cluster.workers[2];
  process.kill(worker1.process.pid, 'SIGSTOP');
  const killedAt = { ms: Infinity };
  // What answered, and whether it answered before worker 1 was killed.
  const ask = () => answeringPid(port).then((answer) => ({ answer, beforeKill: Date.now() < killedAt.ms }));
  const answers = await askInTurn(4, 100, ask);
  await sleep(1000);
  answers.push(...(await askInTurn(1, 100, ask)));
  killedAt.ms = Date.now();
  process.kill(worker1.process.pid, 'SIGKILL');
  return Promise.all(answers);
}

/**
 * Worker 1 runs out of file descriptors for 800 ms (it cannot take a connection: Node refuses the one sent
 * and emits nothing) while four connections come 300 ms apart; a fifth comes 2.1 s after the first.
 */
async function outOfDescriptors(port) {
  cluster.workers[2].send('exhaust-descriptors');
  await sleep(200);
  const answers = await askInTurn(4, 300, () => answerOn(port));
  await sleep(900);
  answers.push(answerOn(port));
  return Promise.all(answers);
}

/** Worker 1 is told to stop (SIGTERM to it alone); four connections come 50 ms apart. */
async function workerStopping(port) {
  cluster.workers[2].process.kill('SIGTERM');
  await sleep(100);
  return Promise.all(await askInTurn(4, 50, () => answerOn(port)));
}

if (cluster.isWorker) {
  const { takeConnections } = await import('../../dist/gateway/sync/connection-handout.js');
  const server = http.createServer((_request, response) => response.end(String(process.pid)));
  const intake = takeConnections(server);
  intake.ready();
  // Shutting down alone (a signal to this worker, not to the primary): out of the turns, then gone.
  process.on('SIGTERM', () => {
    intake.stopping();
    setTimeout(() => process.exit(0), 1000);
  });
  process.on('message', (message) => {
    if (message !== 'exhaust-descriptors') return;
    const held = [];
    try {
      for (;;) held.push(openSync('/dev/null', 'r'));
    } catch {
      setTimeout(() => held.forEach((fd) => closeSync(fd)), 800);
    }
  });
} else {
  const { runGatewayWorkers } = await import('../../dist/gateway/sync/gateway-workers.js');
  const { readyMessage } = await import('../../dist/gateway/sync/connection-handout.js');
  const lines = [];
  const pids = [];
  const answers = [];
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
    const { err, code, restartInMs, handedOn } = fields;
    lines.push({ level, message, error: err?.code ?? err?.message, code, restartInMs, handedOn });
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
      const asking = {
        'killed-while-handing': killWhileHanding,
        'out-of-descriptors': outOfDescriptors,
        'worker-stopping': workerStopping,
      };
      if (asking[scenario])
        void asking[scenario](port).then((got) => {
          answers.push(...got);
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
  process.stdout.write(`${JSON.stringify({ code, lines, pids, answers })}\n`);
}
