import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { parseJsonBuffer, parseWith } from '../../src/http/read-json-body.js';
import { createApiKeyRequestSchema } from '../../src/spec/api-keys.js';
import { EdgeFleetError } from '../../src/spec/edgefleet-error.js';
import { createEndpointRequestSchema } from '../../src/spec/endpoints-api.js';
import { errorCodes } from '../../src/spec/error-codes.js';
import { createDeploymentRequestSchema, listInstancesQuerySchema } from '../../src/spec/management-api.js';
import {
  chatCompletionRequestSchema,
  chatMessageSchema,
  completionRequestSchema,
} from '../../src/spec/openai-requests.js';
import { postUsageEventsRequestSchema, usageQuerySchema } from '../../src/spec/usage-api.js';
import { heartbeatRequestSchema, registerRequestSchema } from '../../src/spec/worker-protocol.js';

/**
 * Property tests for what the HTTP layer does with a client's body: parseJsonBuffer and parseWith must
 * answer any input with a value or a 4xx EdgeFleetError, never another error (which would be a 500).
 */

/** Runs `call` and expects a value or an EdgeFleetError with a 4xx status; returns the error, if any. */
function expectValueOr4xx(call: () => unknown): EdgeFleetError | null {
  try {
    call();
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(EdgeFleetError);
    const status = errorCodes[(error as EdgeFleetError).code].status;
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    return error as EdgeFleetError;
  }
}

/** Keys that prototype-pollution and odd-name attacks use. */
const hostileKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', 'valueOf'];

/** The keys of a (possibly piped or transformed) zod object schema, for building near-valid bodies. */
function keysOf(schema: z.ZodType): string[] {
  const def = (schema as { def?: { shape?: object; in?: z.ZodType; out?: z.ZodType } }).def;
  if (def?.shape) return Object.keys(def.shape);
  // A pipe: the object goes in (a transform after it), or comes out (a preprocess in front of it).
  const keys = def?.in ? keysOf(def.in) : [];
  return keys.length === 0 && def?.out ? keysOf(def.out) : keys;
}

/**
 * Any JSON value, and objects made of the schema's own keys (with arbitrary JSON values, some nested
 * the same way), so that parsing gets past the first field. Values go through JSON text and back, as a
 * body does.
 */
function bodies(keys: string[], nested: string[] = []): fc.Arbitrary<unknown> {
  const key = fc.constantFrom(...keys, ...nested, ...hostileKeys);
  const leaf = fc.oneof(
    fc.jsonValue(),
    fc.string({ unit: 'binary' }),
    fc.constantFrom(0, -1, 1, 1.5, 2 ** 53, 1e308, -1e308, 'http://a.b/v1', '1970-01-01', 'key,model'),
  );
  const inner = fc.dictionary(fc.constantFrom(...nested, ...hostileKeys, 'text', 'type'), leaf, {
    maxKeys: 6,
  });
  const value = fc.oneof(leaf, inner, fc.array(fc.oneof(leaf, inner), { maxLength: 4 }));
  const object = fc.dictionary(key, value, { maxKeys: keys.length + 2 });
  return fc.oneof(fc.jsonValue(), object, object).map((v) => JSON.parse(JSON.stringify(v) ?? 'null'));
}

const schemas: { name: string; schema: z.ZodType; nested?: string[] }[] = [
  {
    name: 'chat completion',
    schema: chatCompletionRequestSchema,
    nested: [...keysOf(chatMessageSchema), 'include_usage'],
  },
  { name: 'completion', schema: completionRequestSchema, nested: ['include_usage'] },
  { name: 'chat message', schema: chatMessageSchema },
  { name: 'create deployment', schema: createDeploymentRequestSchema },
  { name: 'list instances query', schema: listInstancesQuerySchema },
  { name: 'create API key', schema: createApiKeyRequestSchema },
  {
    name: 'worker register',
    schema: registerRequestSchema,
    nested: ['index', 'vendor', 'kind', 'name', 'memoryBytes', 'hardwareId', 'cores', 'model'],
  },
  { name: 'worker heartbeat', schema: heartbeatRequestSchema },
  { name: 'create endpoint', schema: createEndpointRequestSchema },
  { name: 'usage query', schema: usageQuerySchema },
  { name: 'post usage events', schema: postUsageEventsRequestSchema },
];

describe('request schemas (properties)', () => {
  for (const { name, schema, nested } of schemas) {
    it(`${name}: any JSON body parses or is refused with a 4xx EdgeFleetError`, () => {
      expect(keysOf(schema).length).toBeGreaterThan(0);
      fc.assert(
        fc.property(bodies(keysOf(schema), nested), (body) => {
          const error = expectValueOr4xx(() => parseWith(schema, body));
          if (error) expect(['invalid_request', 'unsupported_parameter']).toContain(error.code);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('query schemas: any string parameters parse or are refused with a 4xx EdgeFleetError', () => {
    const params = (keys: string[]) =>
      fc.dictionary(
        fc.constantFrom(...keys, ...hostileKeys),
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.constantFrom('', ' ', '0', '9007199254740993', '2026-01-01T00:00:00Z', 'key,model,site', ','),
        ),
      );
    fc.assert(
      fc.property(params(keysOf(usageQuerySchema)), (query) => {
        expectValueOr4xx(() => parseWith(usageQuerySchema, query));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(params(keysOf(listInstancesQuerySchema)), (query) => {
        expectValueOr4xx(() => parseWith(listInstancesQuerySchema, query));
      }),
      { numRuns: 200 },
    );
  });
});

describe('parseJsonBuffer (properties)', () => {
  it('returns a value or throws invalid_json for any bytes', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 256 }),
      // Near-JSON: valid JSON text, cut short, with bytes changed, or with bad UTF-8 inside.
      fc
        .tuple(fc.jsonValue(), fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))))
        .map(([value, cut, edits]) => {
          const b = Buffer.from(JSON.stringify(value) ?? '');
          for (const [at, byte] of edits) if (b.length > 0) b[at % b.length] = byte;
          return b.subarray(0, b.length === 0 ? 0 : cut % (b.length + 1));
        }),
    );
    fc.assert(
      fc.property(bytes, (raw) => {
        try {
          parseJsonBuffer(Buffer.from(raw));
        } catch (error) {
          expect(error).toBeInstanceOf(EdgeFleetError);
          expect((error as EdgeFleetError).code).toBe('invalid_json');
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('parses any JSON text, with surrounding whitespace and an optional UTF-8 BOM, to the same value', () => {
    const whitespace = fc
      .array(fc.constantFrom(' ', '\t', '\n', '\r'), { maxLength: 3 })
      .map((w) => w.join(''));
    fc.assert(
      fc.property(fc.jsonValue(), whitespace, whitespace, fc.boolean(), (value, before, after, bom) => {
        const text = JSON.stringify(value);
        const raw = Buffer.from((bom ? '\uFEFF' : '') + before + text + after);
        expect(parseJsonBuffer(raw)).toEqual(JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });
});
