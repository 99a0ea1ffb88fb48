import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPlanInput } from '../../src/cli/plan.js';
import { parseRoutingConfig } from '../../src/gateway/routing/routing-config.js';
import { EdgeFleetError } from '../../src/spec/edgefleet-error.js';

/**
 * Property tests for the configuration files a user writes: the gateway's routing config
 * (`--routing-config`, YAML or JSON) and the fleet planner's input (`edgefleet plan --input`). Whatever
 * the file holds — any text, any JSON value, near-valid configurations with one field wrong, YAML alias
 * bombs — the answer is a configuration or an `invalid_argument` error naming the problem, never another
 * error (a crash of the command) and never a long hang.
 */

/** Runs `call`: a value, or an EdgeFleetError with code invalid_argument (returned for inspection). */
function valueOrInvalidArgument<T>(call: () => T): T | EdgeFleetError {
  try {
    return call();
  } catch (error) {
    expect(error).toBeInstanceOf(EdgeFleetError);
    expect((error as EdgeFleetError).code).toBe('invalid_argument');
    return error as EdgeFleetError;
  }
}

/** Values of every JSON type, to put where a field of another type belongs. */
const anyValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);

/** A routing configuration with every section present (what docs/gateway.md shows). */
const validRouting = {
  policy: 'least-cost',
  region: 'north',
  clientRegions: [{ cidr: '10.20.0.0/16', region: 'north' }],
  weights: { rtt: 1, work: 1, speed: 1, kvCache: 1, prompt: 1 },
  prefixAffinity: { enabled: true, chars: 256, maxOutstanding: 4 },
  circuitBreaker: { cooldownMs: 1000, failureThreshold: 3, openMs: 10000 },
  healthCheck: { enabled: true, path: '/health', intervalMs: 5000 },
  retry: { maxAttempts: 3, budgetRatio: 0.2 },
  timeouts: { firstByteMs: 600000, idleMs: 120000 },
} as const;

/** A YAML file whose aliases expand exponentially ("billion laughs"). */
const aliasBomb = [
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...Array.from({ length: 8 }, (_, i) => {
    const name = String.fromCharCode(98 + i);
    const prev = String.fromCharCode(97 + i);
    return `${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`;
  }),
].join('\n');

describe('routing config files', () => {
  it('answers any text with a configuration or invalid_argument', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), (text) => {
        valueOrInvalidArgument(() => parseRoutingConfig(text));
      }),
      { numRuns: 500 },
    );
  });

  it('answers any JSON value, and every near-valid file with one field wrong', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        valueOrInvalidArgument(() => parseRoutingConfig(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
    const sections = Object.keys(validRouting) as (keyof typeof validRouting)[];
    fc.assert(
      fc.property(
        fc.constantFrom(...sections),
        fc.string({ maxLength: 12 }),
        anyValue,
        (section, key, value) => {
          const current = validRouting[section];
          const broken =
            typeof current === 'object' && !Array.isArray(current)
              ? { ...validRouting, [section]: { ...current, [key]: value } }
              : { ...validRouting, [section]: value };
          const result = valueOrInvalidArgument(() => parseRoutingConfig(JSON.stringify(broken)));
          if (result instanceof EdgeFleetError) expect(result.message).toMatch(/^routing config: /);
        },
      ),
      { numRuns: 500 },
    );
    expect(parseRoutingConfig(JSON.stringify(validRouting)).timeouts.idleMs).toBe(120000);
  });

  it('refuses a YAML alias bomb quickly', () => {
    const started = Date.now();
    const result = valueOrInvalidArgument(() => parseRoutingConfig(aliasBomb));
    expect(result).toBeInstanceOf(EdgeFleetError);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('fleet plan input files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ef-plan-props-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  let n = 0;
  const readAs = async (text: string, extension: 'yaml' | 'json') => {
    const path = join(dir, `input-${(n += 1)}.${extension}`);
    await writeFile(path, text);
    try {
      return await readPlanInput(path);
    } catch (error) {
      expect(error).toBeInstanceOf(EdgeFleetError);
      expect((error as EdgeFleetError).code).toBe('invalid_argument');
      expect((error as EdgeFleetError).message).toContain(path);
      return error as EdgeFleetError;
    }
  };

  it('answers any text or JSON value, as YAML or JSON, with an input or invalid_argument', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        fc.constantFrom('yaml' as const, 'json' as const),
        async (text, extension) => {
          await readAs(text, extension);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a YAML alias bomb quickly', async () => {
    const started = Date.now();
    expect(await readAs(aliasBomb, 'yaml')).toBeInstanceOf(EdgeFleetError);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
