import {
  DEFAULT_MODEL_REF,
  listCachedModels,
  modelsDir,
  resolveHome,
  type CachedModel,
} from '../worker/models/model-cache.js';
import { parseFlags } from './parse-flags.js';

const HELP = `usage: edgefleet models [--home DIR] [--json]

Lists the models in the cache (<home>/models): ref, size, sha256 and path.

  --home DIR   EdgeFleet home (default: $EDGEFLEET_HOME, else ~/.edgefleet)
  --json       print a JSON array instead of a table
`;

function formatSize(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

/** A plain, aligned table; the sha256 is shortened to 12 digits ("-" when unverified). */
function formatTable(models: CachedModel[]): string {
  const rows = [
    ['REF', 'SIZE', 'SHA256', 'PATH'],
    ...models.map((model) => [
      model.ref,
      formatSize(model.sizeBytes),
      model.sha256 ? model.sha256.slice(0, 12) : '-',
      model.path,
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '),
    )
    .join('\n');
}

/** `edgefleet models [--home DIR] [--json]`: lists the model cache. */
export async function run(args: string[]): Promise<number> {
  let values: { home?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseFlags(args, {
      home: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    }));
  } catch (error) {
    process.stderr.write(`edgefleet models: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const home = resolveHome(values.home);
  const models = await listCachedModels(home);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
    return 0;
  }
  if (models.length === 0) {
    process.stdout.write(
      `no models in ${modelsDir(home)}\npull one with: edgefleet pull ${DEFAULT_MODEL_REF}\n`,
    );
    return 0;
  }
  process.stdout.write(`${formatTable(models)}\n`);
  return 0;
}
