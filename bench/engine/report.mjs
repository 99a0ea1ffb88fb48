/** The benchmark's markdown report: machine, llama-bench baseline, serving runs, EdgeFleet / llama-server ratios. */

const fixed = (value, digits = 1) =>
  value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);

export function markdownReport(result) {
  const { environment: env, config } = result;
  const lines = [];
  lines.push(`### Engine benchmark, ${result.date.slice(0, 10)}`);
  lines.push('');
  lines.push(`Command: \`${result.command}\``);
  lines.push('');
  lines.push(
    `Machine: ${env.cores} cores, ${env.cpu} (${env.cpuFlags.join(', ') || 'no AVX flags'}), ${env.memoryGiB} GiB, ` +
      `no GPU used. Node ${env.node}, edgefleet ${env.edgefleet}, node-llama-cpp ${env.nodeLlamaCpp}, ` +
      `llama.cpp ${env.llamaCppCommit?.slice(0, 10) ?? 'n/a'} (built from node-llama-cpp's bundle).`,
  );
  lines.push(
    `Model: ${env.modelDescription ?? env.model}, ${(env.modelBytes / 1e6).toFixed(1)} MB. ` +
      `Prompt ${result.prompt?.tokens ?? 'n/a'} tokens, ${config.maxTokens} completion tokens per request ` +
      `(ignore_eos), ${config.requests} requests per run, ${config.parallel} slots × ${config.context} context.`,
  );
  if (result.llamaBench.length > 0) {
    lines.push('');
    lines.push('| threads | llama-bench prompt (tok/s) | llama-bench decode (tok/s) | other load (cores) |');
    lines.push('| ---: | ---: | ---: | ---: |');
    for (const b of result.llamaBench) {
      lines.push(
        `| ${b.threads} | pp${b.pp?.tokens ?? '?'}: ${fixed(b.pp?.tokS)} ± ${fixed(b.pp?.stddev)} ` +
          `| tg${b.tg?.tokens ?? '?'}: ${fixed(b.tg?.tokS)} ± ${fixed(b.tg?.stddev)} | ${fixed(b.cpu?.otherCores, 2)} |`,
      );
    }
  }
  if (result.runs.length > 0) {
    lines.push('');
    lines.push(
      '| threads | engine | streams | mean TTFT ms (p50 / max) | mean TPOT ms | per-stream decode tok/s ' +
        '| aggregate output tok/s | other load (cores) |',
    );
    lines.push('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const { engine, threads, streams, summary: s, cpu } of result.runs) {
      lines.push(
        `| ${threads} | ${engine} | ${streams} | ${fixed(s.meanTtftMs)} (${fixed(s.p50TtftMs)} / ${fixed(s.maxTtftMs)}) ` +
          `| ${fixed(s.meanTpotMs, 2)} | ${fixed(s.singleStreamDecodeTokS)} | ${fixed(s.aggregateTokS)} ` +
          `| ${fixed(cpu?.otherCores, 2)} |`,
      );
    }
  }
  if (result.ratios.length > 0) {
    lines.push('');
    lines.push('EdgeFleet / llama-server (target: ≥ 0.90 for throughput; TTFT: lower is better):');
    lines.push('');
    lines.push('| threads | streams | aggregate tok/s | per-stream decode tok/s | mean TTFT |');
    lines.push('| ---: | ---: | ---: | ---: | ---: |');
    for (const r of result.ratios) {
      lines.push(
        `| ${r.threads} | ${r.streams} | ${fixed(r.aggregateTokS, 2)}× | ${fixed(r.singleStreamDecodeTokS, 2)}× ` +
          `| ${fixed(r.meanTtft, 2)}× |`,
      );
    }
  }
  for (const f of result.failures ?? []) {
    lines.push('');
    lines.push(
      `**${f.engine} failed** (threads ${f.threads}${f.streams ? `, ${f.streams} streams` : ''}, ${f.stage}): ${f.error}`,
    );
  }
  for (const r of result.runs.filter((run) => run.summary.failed > 0)) {
    lines.push('');
    lines.push(
      `${r.engine} (threads ${r.threads}, ${r.streams} streams): ${r.summary.failed} of ${r.summary.requests} ` +
        `requests failed: ${r.summary.errors.join(' | ')}`,
    );
  }
  lines.push('');
  lines.push(
    '"other load": CPU cores that processes outside the benchmark used during the measurement ' +
      '(/proc/stat busy time minus the benchmark and its servers).',
  );
  return lines.join('\n');
}
