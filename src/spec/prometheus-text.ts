import { EdgeFleetError } from './edgefleet-error.js';

export interface PrometheusSample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface PrometheusScrape {
  samples: PrometheusSample[];
  /** `# HELP` text and `# TYPE` per metric family name. */
  help: ReadonlyMap<string, string>;
  types: ReadonlyMap<string, string>;
}

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseValue(raw: string, line: number): number {
  if (raw === 'NaN') return Number.NaN;
  if (raw === '+Inf' || raw === 'Inf') return Number.POSITIVE_INFINITY;
  if (raw === '-Inf') return Number.NEGATIVE_INFINITY;
  const value = Number(raw);
  if (raw === '' || Number.isNaN(value)) {
    throw new EdgeFleetError('engine_error', `metrics line ${line}: bad sample value "${raw}"`);
  }
  return value;
}

/** Reads `{a="x",b="y\"z"}` starting at `start` (the `{`); returns the labels and the index after `}`. */
function parseLabels(
  text: string,
  start: number,
  line: number,
): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  const fail = (why: string): never => {
    throw new EdgeFleetError('engine_error', `metrics line ${line}: ${why}`);
  };
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === ',') i += 1;
    if (text[i] === '}') return { labels, end: i + 1 };
    const match = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!match) fail('bad label name');
    const key = match?.[0] ?? '';
    i += key.length;
    while (text[i] === ' ') i += 1;
    if (text[i] !== '=' || text[i + 1] !== '"') fail(`label ${key} has no quoted value`);
    i += 2;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) fail('unterminated label value');
      if (c === '"') break;
      if (c === '\\') {
        const next = text[i + 1];
        value += next === 'n' ? '\n' : (next ?? '');
        i += 2;
      } else {
        value += c;
        i += 1;
      }
    }
    labels[key] = value;
    i += 1;
  }
  return fail('unterminated label set');
}

/**
 * Parses the Prometheus text exposition format (0.0.4), as served by vLLM, SGLang, llama-server, MindIE and
 * prom-client. Comments other than HELP/TYPE are skipped; timestamps are ignored; a malformed line throws
 * EdgeFleetError `engine_error` naming the line.
 */
export function parsePrometheusText(text: string): PrometheusScrape {
  const samples: PrometheusSample[] = [];
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  const lines = text.split('\n');
  lines.forEach((rawLine, index) => {
    const lineNo = index + 1;
    const line = rawLine.trim();
    if (line === '') return;
    if (line.startsWith('#')) {
      const meta = /^#\s*(HELP|TYPE)\s+(\S+)\s?(.*)$/.exec(line);
      if (meta?.[1] === 'HELP') help.set(meta[2] ?? '', meta[3] ?? '');
      else if (meta?.[1] === 'TYPE') types.set(meta[2] ?? '', (meta[3] ?? '').trim());
      return;
    }
    const name = namePattern.exec(line)?.[0];
    if (!name) throw new EdgeFleetError('engine_error', `metrics line ${lineNo}: bad metric name`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const parsed = parseLabels(rest, 0, lineNo);
      labels = parsed.labels;
      rest = rest.slice(parsed.end);
    }
    const [rawValue = ''] = rest.trim().split(/\s+/);
    samples.push({ name, labels, value: parseValue(rawValue, lineNo) });
  });
  return { samples, help, types };
}

/**
 * Sum of every series of one metric (several vLLM engines, several models), skipping NaN;
 * null when the metric is absent.
 */
export function sumMetric(scrape: PrometheusScrape, name: string): number | null {
  let found = false;
  let total = 0;
  for (const sample of scrape.samples) {
    if (sample.name !== name) continue;
    found = true;
    if (!Number.isNaN(sample.value)) total += sample.value;
  }
  return found ? total : null;
}

/** Mean of every series of one gauge (e.g. KV-cache use across engines); null when absent. */
export function meanMetric(scrape: PrometheusScrape, name: string): number | null {
  const values = scrape.samples.filter((s) => s.name === name && !Number.isNaN(s.value)).map((s) => s.value);
  if (values.length === 0) return null;
  return values.reduce((a, b) => a + b, 0) / values.length;
}
