/**
 * A cluster primary run by runGatewayWorkers (from `dist/`), whose workers are tiny HTTP servers, with
 * worker starts that fail the two ways a spawn can fail: node refusing the arguments at once (a
 * synchronous throw, as ENOMEM is) and the spawn failing afterwards (an 'error' event and no 'exit', as
 * EAGAIN is; here ENOENT from a working directory that does not exist). Prints one JSON line on stdout:
 * the exit code runGatewayWorkers resolved with, the log lines it wrote, and the pids that answered.
 *
 *   node test/helpers/gateway-workers-spawn.mjs throw-at-start | enoent-at-start | fail-on-restart
 */
import cluster from 'node:cluster';
import http from 'node:http';

const scenario = process.argv[2];
const badArgument = ['--no-such-flag\0'];
const missingDirectory = '/nonexistent-edgefleet-test-dir';

/** The pid of the worker that answers a request on `port`. */
function answeringPid(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, agent: false }, (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (part) => (text += part));
        response.on('end', () => resolve(Number(text)));
      })
      .on('error', reject);
  });
}

if (cluster.isWorker) {
  http.createServer((_request, response) => response.end(String(process.pid))).listen(0, '127.0.0.1');
} else {
  const { runGatewayWorkers } = await import('../../dist/gateway/sync/gateway-workers.js');
  const lines = [];
  const pids = [];
  let failedStarts = 0;

  const onLine = (message) => {
    if (scenario !== 'fail-on-restart' || !message.startsWith('a gateway worker could not be started;'))
      return;
    failedStarts += 1;
    // First a throw, then an 'error' event, then a start that works.
    if (failedStarts === 1) cluster.setupPrimary({ execArgv: [], cwd: missingDirectory });
    if (failedStarts === 2) {
      cluster.setupPrimary({ cwd: process.cwd() });
      // On a new port when the test listens on port 0: the port was closed when the last worker died.
      cluster.once('listening', (_worker, address) =>
        answeringPid(address.port).then((pid) => {
          pids.push(pid);
          process.kill(process.pid, 'SIGTERM');
        }),
      );
    }
  };
  const record = (level) => (fields, message) => {
    const { err, code, restartInMs } = fields;
    lines.push({ level, message, error: err?.code ?? err?.message, code, restartInMs });
    onLine(message);
  };
  const log = { info: record('info'), warn: record('warn'), error: record('error') };

  if (scenario === 'throw-at-start') cluster.setupPrimary({ execArgv: badArgument });
  if (scenario === 'enoent-at-start') cluster.setupPrimary({ cwd: missingDirectory });
  const code = await runGatewayWorkers({
    // Two at the start (the second must not be started once the first failed), one for the restarts.
    count: scenario === 'fail-on-restart' ? 1 : 2,
    log,
    restartBackoffMs: 100,
    onListening: (address) => {
      if (scenario !== 'fail-on-restart') return;
      void answeringPid(address.port).then((pid) => {
        pids.push(pid);
        cluster.setupPrimary({ execArgv: badArgument });
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      });
    },
  });
  process.stdout.write(`${JSON.stringify({ code, lines, pids })}\n`);
}
