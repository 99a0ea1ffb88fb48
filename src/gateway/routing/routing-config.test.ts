import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultRoutingConfig, parseRoutingConfig } from './routing-config.js';

describe('parseRoutingConfig', () => {
  it('fills every default from an empty file', () => {
    const config = parseRoutingConfig('');
    expect(config).toEqual(defaultRoutingConfig());
    expect(config).toMatchObject({
      policy: 'least-cost',
      prefixAffinity: { enabled: true, chars: 256, maxOutstanding: 4 },
      circuitBreaker: { failureThreshold: 3, openMs: 10_000 },
      retry: { maxAttempts: 3, budgetRatio: 0.2, budgetMinRetries: 5 },
      healthCheck: { enabled: true, path: '/health', intervalMs: 5000 },
    });
    expect(Object.isFrozen(config.weights)).toBe(true);
  });

  it('reads YAML and JSON, keeping defaults for what is left out', () => {
    const yaml = parseRoutingConfig(`
region: north
clientRegions:
  - { cidr: 10.1.0.0/16, region: north }
  - { cidr: "2001:db8::/32", region: south }
weights: { speed: 2 }
retry: { budgetRatio: 0.1 }
`);
    expect(yaml.region).toBe('north');
    expect(yaml.clientRegions).toHaveLength(2);
    expect(yaml.weights).toEqual({ rtt: 1, work: 1, speed: 2, kvCache: 1, prompt: 1 });
    expect(yaml.retry).toMatchObject({ budgetRatio: 0.1, maxAttempts: 3 });
    expect(parseRoutingConfig('{"policy": "round-robin"}').policy).toBe('round-robin');
  });

  it('names the bad field', () => {
    const cases: [string, RegExp][] = [
      ['policy: fastest', /policy/],
      ['clientRegions: [{ cidr: 10.0.0.0/40, region: x }]', /clientRegions\.0\.cidr/],
      ['weights: { speeed: 1 }', /weights/],
      ['retry: { budgetRatio: 2 }', /retry\.budgetRatio/],
      ['[unclosed', /not YAML or JSON/],
      ['- a list', /top level/],
      [
        'weights: { rtt: 0, work: 0, speed: 0, kvCache: 0, prompt: 0 }',
        /weights: every weight is 0.*round-robin/,
      ],
    ];
    for (const [text, message] of cases) {
      expect(() => parseRoutingConfig(text), text).toThrow(message);
    }
  });

  it('reads the example in docs/gateway.md, which spells out the defaults', () => {
    const doc = readFileSync(new URL('../../../docs/gateway.md', import.meta.url), 'utf8');
    const example = /## Routing[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const config = parseRoutingConfig(example!);
    const { region: _region, clientRegions: _clientRegions, ...rest } = config;
    const { region: _r, clientRegions: _c, ...defaults } = defaultRoutingConfig();
    expect(rest).toEqual(defaults);
    expect(config.clientRegions).toHaveLength(2);
  });
});
