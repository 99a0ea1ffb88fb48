import { describe, expect, it } from 'vitest';
import { EdgeFleetError } from './edgefleet-error.js';
import { meanMetric, parsePrometheusText, sumMetric } from './prometheus-text.js';

describe('parsePrometheusText', () => {
  it('reads HELP and TYPE lines, labels and plain samples', () => {
    const scrape = parsePrometheusText(
      [
        '# HELP vllm:num_requests_running Number of requests in model execution batches.',
        '# TYPE vllm:num_requests_running gauge',
        'vllm:num_requests_running{engine="0",model_name="m"} 3.0',
        '# a free comment',
        '',
        'up 1',
      ].join('\n'),
    );
    expect(scrape.help.get('vllm:num_requests_running')).toBe(
      'Number of requests in model execution batches.',
    );
    expect(scrape.types.get('vllm:num_requests_running')).toBe('gauge');
    expect(scrape.samples).toEqual([
      { name: 'vllm:num_requests_running', labels: { engine: '0', model_name: 'm' }, value: 3 },
      { name: 'up', labels: {}, value: 1 },
    ]);
  });

  it('unescapes quotes, backslashes and newlines in label values, and allows commas and braces inside', () => {
    const scrape = parsePrometheusText('m{path="C:\\\\models\\\\x",q="say \\"hi\\", {ok}",n="a\\nb",} 2\n');
    expect(scrape.samples[0]?.labels).toEqual({ path: 'C:\\models\\x', q: 'say "hi", {ok}', n: 'a\nb' });
    expect(scrape.samples[0]?.value).toBe(2);
  });

  it('reads NaN, +Inf, -Inf, exponents and ignores timestamps', () => {
    const scrape = parsePrometheusText(
      ['a NaN', 'b +Inf', 'c -Inf', 'd 1.5e+06', 'e{le="+Inf"} 7 1700000000000', 'f -0.25'].join('\n'),
    );
    const values = scrape.samples.map((s) => s.value);
    expect(Number.isNaN(values[0])).toBe(true);
    expect(values.slice(1)).toEqual([Infinity, -Infinity, 1_500_000, 7, -0.25]);
    expect(scrape.samples[4]?.labels).toEqual({ le: '+Inf' });
  });

  it('sums every series of a metric (several vLLM engines), skipping NaN; null when absent', () => {
    const scrape = parsePrometheusText(
      [
        'vllm:num_requests_waiting{engine="0",model_name="m"} 2.0',
        'vllm:num_requests_waiting{engine="1",model_name="m"} 5.0',
        'vllm:num_requests_waiting{engine="2",model_name="m"} NaN',
        'vllm:kv_cache_usage_perc{engine="0"} 0.2',
        'vllm:kv_cache_usage_perc{engine="1"} 0.6',
      ].join('\n'),
    );
    expect(sumMetric(scrape, 'vllm:num_requests_waiting')).toBe(7);
    expect(sumMetric(scrape, 'vllm:num_requests_running')).toBeNull();
    expect(meanMetric(scrape, 'vllm:kv_cache_usage_perc')).toBeCloseTo(0.4);
    expect(meanMetric(scrape, 'nothing')).toBeNull();
  });

  it('handles CRLF line ends', () => {
    expect(parsePrometheusText('# TYPE x gauge\r\nx 4\r\n').samples).toEqual([
      { name: 'x', labels: {}, value: 4 },
    ]);
  });

  it.each([
    ['bad value', 'x abc'],
    ['missing value', 'x{a="b"}'],
    ['unterminated label value', 'x{a="b} 1'],
    ['unquoted label value', 'x{a=b} 1'],
    ['bad name', '9x 1'],
  ])('rejects a malformed line (%s) with engine_error naming the line', (_why, line) => {
    const run = () => parsePrometheusText(`ok 1\n${line}\n`);
    expect(run).toThrow(EdgeFleetError);
    expect(run).toThrow(/line 2/);
  });
});
