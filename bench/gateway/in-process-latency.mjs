/**
 * Preloaded (`node --import`) into each proxy process of bench/gateway/run.mjs: the time each request
 * spends inside that process's HTTP server, from its `request` event (headers parsed) to its response's
 * `finish` (the last byte handed to the kernel), upstream round trip included. Set back to zero on
 * SIGUSR2 (sent after the warm-up, right before wrk starts); printed as `inproc {json}` on stdout at exit.
 * Set against wrk's latency through the same process, it separates what the proxy's own code takes from
 * the time requests wait outside it (in socket buffers, for a CPU, for a process to be woken).
 */
import http from 'node:http';
import { createHistogram } from 'node:perf_hooks';

const histogram = createHistogram();
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, request, response) {
  if (event === 'request') {
    const startedAt = process.hrtime.bigint();
    response.once('finish', () => histogram.record(Number(process.hrtime.bigint() - startedAt) || 1));
  }
  return emit.apply(this, arguments);
};
process.on('SIGUSR2', () => histogram.reset());
process.on('exit', () => {
  const ms = (ns) => Math.round(ns / 1e3) / 1e3;
  const summary = {
    count: histogram.count,
    p50Ms: ms(histogram.percentile(50)),
    p90Ms: ms(histogram.percentile(90)),
    p99Ms: ms(histogram.percentile(99)),
    p999Ms: ms(histogram.percentile(99.9)),
    maxMs: ms(histogram.max),
  };
  process.stdout.write(`inproc ${JSON.stringify(summary)}\n`);
});
