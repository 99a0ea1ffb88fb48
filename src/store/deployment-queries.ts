import { randomUUID } from 'node:crypto';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { asJson, buildSetClause, notFound, same, type SqlContext } from './sql-driver.js';
import type { DeploymentPatch, InstancePatch, Store } from './store.js';
import { toDeployment, toInstance } from './store-rows.js';

type DeploymentQueries = Pick<
  Store,
  | 'createDeployment'
  | 'getDeployment'
  | 'getDeploymentByName'
  | 'listDeployments'
  | 'lockDeployment'
  | 'updateDeployment'
  | 'touchDeployment'
  | 'deleteDeployment'
  | 'createInstance'
  | 'getInstance'
  | 'listInstances'
  | 'updateInstance'
  | 'deleteInstance'
>;

const deploymentColumns = {
  replicas: ['replicas', same],
  minReplicas: ['min_replicas', same],
  idleTimeoutMs: ['idle_timeout_ms', same],
  status: ['status', same],
  statusReason: ['status_reason', same],
  modelRef: ['model_ref', same],
  quant: ['quant', same],
  engine: ['engine', same],
  contextTokens: ['context_tokens', same],
  siteConstraints: ['site_constraints', asJson],
} as const;

const instanceColumns = {
  nodeId: ['node_id', same],
  state: ['state', same],
  port: ['port', same],
  allocations: ['allocations', asJson],
  restarts: ['restarts', same],
  lastError: ['last_error', same],
  downloadedBytes: ['downloaded_bytes', same],
  downloadTotalBytes: ['download_total_bytes', same],
} as const;

/** Deployments (desired state) and their instances (what the scheduler placed). */
export function deploymentQueries({ db, namedLockSql }: SqlContext): DeploymentQueries {
  return {
    async lockDeployment(id) {
      if (namedLockSql !== null) await db.query(namedLockSql, [`edgefleet:deployment:${id}`]);
    },
    async createDeployment(input) {
      const nowMs = Date.now();
      const existing = await db.query('SELECT id FROM deployments WHERE name = $1', [input.name]);
      if (existing.length > 0) throw nameTaken(input.name);
      try {
        const rows = await db.query(
          `INSERT INTO deployments (id, name, model_ref, quant, engine, replicas, site_constraints, status,
             status_reason, created_at_ms, updated_at_ms, min_replicas, idle_timeout_ms, context_tokens)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13)
           RETURNING *`,
          [
            input.id ?? randomUUID(),
            input.name,
            input.modelRef,
            input.quant ?? null,
            input.engine ?? null,
            input.replicas,
            JSON.stringify(input.siteConstraints ?? []),
            input.status ?? 'pending',
            input.statusReason ?? null,
            nowMs,
            input.minReplicas ?? input.replicas,
            input.idleTimeoutMs ?? 600_000,
            input.contextTokens ?? null,
          ],
        );
        return toDeployment(rows[0]);
      } catch (error) {
        // Lost a race with another writer between the check and the insert.
        if (error instanceof EdgeFleetError && error.code === 'conflict') throw nameTaken(input.name, error);
        throw error;
      }
    },
    async getDeployment(id) {
      const rows = await db.query('SELECT * FROM deployments WHERE id = $1', [id]);
      return rows[0] === undefined ? null : toDeployment(rows[0]);
    },
    async getDeploymentByName(name) {
      const rows = await db.query('SELECT * FROM deployments WHERE name = $1', [name]);
      return rows[0] === undefined ? null : toDeployment(rows[0]);
    },
    async listDeployments() {
      return (await db.query('SELECT * FROM deployments ORDER BY created_at_ms, id')).map(toDeployment);
    },
    async updateDeployment(id, patch, newRevision) {
      const set = buildSetClause<DeploymentPatch>(patch, deploymentColumns, 3);
      const bump = newRevision ? ['revision = revision + 1'] : [];
      const rows = await db.query(
        `UPDATE deployments SET ${['updated_at_ms = $2', ...bump, ...set.sql].join(', ')} WHERE id = $1 RETURNING *`,
        [id, Date.now(), ...set.params],
      );
      if (rows[0] === undefined) throw notFound('deployment', id);
      if (newRevision) {
        await db.run(
          'UPDATE instances SET launch_spec = $2 WHERE deployment_id = $1 AND launch_spec IS NULL',
          [id, JSON.stringify(newRevision.previous)],
        );
      }
      return toDeployment(rows[0]);
    },
    async touchDeployment(id, atMs = Date.now()) {
      await db.run(
        `UPDATE deployments SET last_request_at_ms = $2
         WHERE id = $1 AND (last_request_at_ms IS NULL OR last_request_at_ms < $2)`,
        [id, atMs],
      );
    },
    async deleteDeployment(id) {
      return (await db.run('DELETE FROM deployments WHERE id = $1', [id])) > 0;
    },

    async createInstance(input) {
      const nowMs = Date.now();
      const rows = await db.query(
        `INSERT INTO instances (id, deployment_id, node_id, state, engine, port, allocations, restarts,
           last_error, downloaded_bytes, download_total_bytes, engine_key, version, created_at_ms,
           updated_at_ms, revision, launch_spec)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL, NULL, NULL, $9, 1, $8, $8, $10, $11)
         RETURNING *`,
        [
          input.id ?? randomUUID(),
          input.deploymentId,
          input.nodeId ?? null,
          input.state ?? 'pending',
          input.engine,
          input.port ?? null,
          JSON.stringify(input.allocations ?? []),
          nowMs,
          input.engineKey ?? null,
          input.revision ?? 1,
          input.launchSpec ? JSON.stringify(input.launchSpec) : null,
        ],
      );
      return toInstance(rows[0]);
    },
    async getInstance(id) {
      const rows = await db.query('SELECT * FROM instances WHERE id = $1', [id]);
      return rows[0] === undefined ? null : toInstance(rows[0]);
    },
    async listInstances(filter = {}) {
      const where: string[] = [];
      const params: string[] = [];
      if (filter.deploymentId !== undefined) {
        params.push(filter.deploymentId);
        where.push(`deployment_id = $${params.length}`);
      }
      if (filter.nodeId !== undefined) {
        params.push(filter.nodeId);
        where.push(`node_id = $${params.length}`);
      }
      const clause = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
      const rows = await db.query(`SELECT * FROM instances ${clause} ORDER BY created_at_ms, id`, params);
      return rows.map(toInstance);
    },
    async updateInstance(id, expectedVersion, patch) {
      const set = buildSetClause<InstancePatch>(patch, instanceColumns, 4);
      const rows = await db.query(
        `UPDATE instances SET ${['version = version + 1', 'updated_at_ms = $3', ...set.sql].join(', ')}
         WHERE id = $1 AND version = $2 RETURNING *`,
        [id, expectedVersion, Date.now(), ...set.params],
      );
      if (rows[0] !== undefined) return toInstance(rows[0]);
      const current = await db.query('SELECT version FROM instances WHERE id = $1', [id]);
      if (current[0] === undefined) throw notFound('instance', id);
      const actualVersion = Number(current[0]['version']);
      throw new EdgeFleetError(
        'conflict',
        `instance ${id} changed since it was read (version ${actualVersion}, expected ${expectedVersion})`,
        { data: { id, expectedVersion, actualVersion } },
      );
    },
    async deleteInstance(id) {
      return (await db.run('DELETE FROM instances WHERE id = $1', [id])) > 0;
    },
  };
}

function nameTaken(name: string, cause?: unknown): EdgeFleetError {
  return new EdgeFleetError('conflict', `a deployment named "${name}" already exists`, {
    param: 'name',
    data: { name },
    cause,
  });
}
