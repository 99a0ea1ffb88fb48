#!/usr/bin/env node
/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self time by function and by file, as shares of the
 * samples, so the top costs of a gateway run can be named.
 *
 *   node bench/gateway/profile-summary.mjs FILE.cpuprofile
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function summarizeProfile(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const shortUrl = (url) =>
    url
      .replace(/^file:\/\//, '')
      .replace(/^.*\/node_modules\//, 'node_modules/')
      .replace(/^.*\/dist\//, 'dist/')
      .replace(/^.*\/bench\//, 'bench/');
  const fns = new Map();
  const files = new Map();
  for (const [id, count] of counts) {
    const { callFrame } = byId.get(id);
    const file = shortUrl(callFrame.url) || '(native)';
    const fn = `${callFrame.functionName || '(anonymous)'} ${file}${callFrame.url ? `:${callFrame.lineNumber + 1}` : ''}`;
    fns.set(fn, (fns.get(fn) ?? 0) + count);
    files.set(file, (files.get(file) ?? 0) + count);
  }
  const sorted = (map) =>
    [...map].sort((a, b) => b[1] - a[1]).map(([name, n]) => ({ name, share: n / total }));
  const top = sorted(fns);
  const byFile = sorted(files);
  const pct = (x) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const text = [
    `samples: ${total}`,
    '',
    'self time by function:',
    ...top.slice(0, 40).map((t) => `${pct(t.share)}  ${t.name}`),
    '',
    'self time by file:',
    ...byFile.slice(0, 30).map((t) => `${pct(t.share)}  ${t.name}`),
    '',
  ].join('\n');
  return { total, top, byFile, text };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(summarizeProfile(JSON.parse(readFileSync(process.argv[2], 'utf8'))).text);
}
