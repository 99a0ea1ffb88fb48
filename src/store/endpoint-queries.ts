/**
 * External endpoints: OpenAI-compatible servers run outside EdgeFleet (a hand-started vLLM, a MindIE
 * box) that the gateway routes to like instances, with the health the control plane last saw.
 */
import { randomUUID } from 'node:crypto';
import type { SqlContext } from './sql-driver.js';
import type { Store } from './store.js';
import { toEndpoint } from './store-rows.js';

type EndpointQueries = Pick<
  Store,
  | 'createEndpoint'
  | 'getEndpoint'
  | 'listEndpoints'
  | 'updateEndpoint'
  | 'deleteEndpoint'
  | 'recordEndpointCheck'
>;

export function endpointQueries({ db }: SqlContext): EndpointQueries {
  const getEndpoint = async (id: string) => {
    const rows = await db.query('SELECT * FROM endpoints WHERE id = $1', [id]);
    return rows[0] === undefined ? null : toEndpoint(rows[0]);
  };
  return {
    async createEndpoint(input) {
      const rows = await db.query(
        `INSERT INTO endpoints (id, model, url, site_id, api_key, upstream_model, health, last_check_at_ms,
           last_error, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'unknown', NULL, NULL, $7) RETURNING *`,
        [
          input.id ?? randomUUID(),
          input.model,
          input.url,
          input.siteId,
          input.apiKey ?? null,
          input.upstreamModel ?? null,
          Date.now(),
        ],
      );
      return toEndpoint(rows[0]);
    },
    getEndpoint,
    async listEndpoints() {
      return (await db.query('SELECT * FROM endpoints ORDER BY model, created_at_ms, id')).map(toEndpoint);
    },
    async updateEndpoint(id, changes) {
      const columns = { apiKey: 'api_key', upstreamModel: 'upstream_model' } as const;
      const given = (Object.keys(columns) as (keyof typeof columns)[]).filter(
        (f) => changes[f] !== undefined,
      );
      if (given.length > 0) {
        const set = given.map((field, i) => `${columns[field]} = $${i + 2}`).join(', ');
        await db.run(`UPDATE endpoints SET ${set} WHERE id = $1`, [
          id,
          ...given.map((f) => changes[f] ?? null),
        ]);
      }
      return getEndpoint(id);
    },
    async deleteEndpoint(id) {
      return (await db.run('DELETE FROM endpoints WHERE id = $1', [id])) > 0;
    },
    async recordEndpointCheck(id, check) {
      await db.run('UPDATE endpoints SET health = $2, last_check_at_ms = $3, last_error = $4 WHERE id = $1', [
        id,
        check.healthy ? 'healthy' : 'unhealthy',
        check.atMs ?? Date.now(),
        check.healthy ? null : (check.error ?? 'health check failed'),
      ]);
    },
  };
}
