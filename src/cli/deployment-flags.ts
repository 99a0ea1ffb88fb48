/** Flags `deploy` and `redeploy` share: the model operand and the sites. */
import { resolve } from 'node:path';
import { isRelativeModelPath } from '../spec/management-api.js';
import { CliFailure } from './management-client.js';

/** A relative file path means the file here: the control plane needs the absolute path. */
export function modelArgument(model: string): string {
  return isRelativeModelPath(model) ? resolve(model) : model;
}

/** The `--site` values (repeatable), trimmed; undefined when none was given. */
export function siteFlags(values: unknown): string[] | undefined {
  if (!Array.isArray(values)) return undefined;
  const sites = values.filter((s): s is string => typeof s === 'string').map((s) => s.trim());
  if (sites.includes('')) throw new CliFailure('--site must name a site, got ""', 2);
  return sites;
}
