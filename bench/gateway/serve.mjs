/**
 * How the bench's own servers (upstream, bare proxies; node:http or node:net) run: on 127.0.0.1,
 * printing `listening <port>` for run.mjs once they accept connections, and exiting 0 on SIGTERM or
 * SIGINT (so `--cpu-prof` writes).
 */
export function serve(server, port) {
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`listening ${server.address().port}\n`);
  });
  const stop = () => {
    server.close();
    server.closeAllConnections?.(); // node:http's; a plain node:net server has none
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
