import { randomUUID } from 'node:crypto';
import { notFound, type SqlContext } from './sql-driver.js';
import type { Store } from './store.js';
import { toDevice, toNode, toSite } from './store-rows.js';

type FleetQueries = Pick<
  Store,
  | 'upsertSite'
  | 'getSite'
  | 'listSites'
  | 'registerNode'
  | 'getNode'
  | 'findNodeByCredentialHash'
  | 'listNodes'
  | 'listDevices'
  | 'recordHeartbeat'
  | 'listNodesNotSeenSince'
  | 'setNodeStatus'
  | 'setNodeMaintenance'
  | 'revokeNode'
>;

/** Sites, nodes and their devices. */
export function fleetQueries({ db, atomically }: SqlContext): FleetQueries {
  const requireChanged = (changed: number, id: string): void => {
    if (changed === 0) throw notFound('node', id);
  };
  return {
    async upsertSite(site) {
      const rows = await db.query(
        `INSERT INTO sites (id, name, region, created_at_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET region = COALESCE(excluded.region, sites.region)
         RETURNING *`,
        [site.id ?? randomUUID(), site.name, site.region ?? null, Date.now()],
      );
      return toSite(rows[0]);
    },
    async getSite(id) {
      const rows = await db.query('SELECT * FROM sites WHERE id = $1', [id]);
      return rows[0] === undefined ? null : toSite(rows[0]);
    },
    async listSites() {
      return (await db.query('SELECT * FROM sites ORDER BY name, id')).map(toSite);
    },

    registerNode(input) {
      const atMs = input.atMs ?? Date.now();
      return atomically(async (tx) => {
        const rows = await tx.query(
          `INSERT INTO nodes (id, site_id, name, address, status, credential_hash, last_heartbeat_at_ms,
             labels, created_at_ms, revoked_at_ms)
           VALUES ($1, $2, $3, $4, 'up', $5, $6, $7, $6, NULL)
           ON CONFLICT (id) DO UPDATE SET site_id = excluded.site_id, name = excluded.name,
             address = excluded.address, status = 'up', down_reason = NULL,
             credential_hash = excluded.credential_hash,
             last_heartbeat_at_ms = excluded.last_heartbeat_at_ms, labels = excluded.labels,
             revoked_at_ms = NULL
           RETURNING *`,
          [
            input.id ?? randomUUID(),
            input.siteId,
            input.name,
            input.address,
            input.credentialHash,
            atMs,
            JSON.stringify(input.labels ?? {}),
          ],
        );
        const node = toNode(rows[0]);
        await tx.run('DELETE FROM devices WHERE node_id = $1', [node.id]);
        for (const device of input.devices) {
          await tx.run(
            `INSERT INTO devices (node_id, device_index, vendor, kind, name, memory_bytes, hardware_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [
              node.id,
              device.index,
              device.vendor,
              device.kind,
              device.name,
              device.memoryBytes,
              device.hardwareId,
            ],
          );
        }
        return node;
      });
    },
    async getNode(id) {
      const rows = await db.query('SELECT * FROM nodes WHERE id = $1', [id]);
      return rows[0] === undefined ? null : toNode(rows[0]);
    },
    async findNodeByCredentialHash(credentialHash) {
      const rows = await db.query(
        'SELECT * FROM nodes WHERE credential_hash = $1 AND revoked_at_ms IS NULL ORDER BY id',
        [credentialHash],
      );
      return rows[0] === undefined ? null : toNode(rows[0]);
    },
    async listNodes(filter = {}) {
      const rows =
        filter.siteId === undefined
          ? await db.query('SELECT * FROM nodes ORDER BY name, id')
          : await db.query('SELECT * FROM nodes WHERE site_id = $1 ORDER BY name, id', [filter.siteId]);
      return rows.map(toNode);
    },
    async listDevices(nodeId) {
      const rows =
        nodeId === undefined
          ? await db.query('SELECT * FROM devices ORDER BY node_id, device_index')
          : await db.query('SELECT * FROM devices WHERE node_id = $1 ORDER BY device_index', [nodeId]);
      return rows.map(toDevice);
    },
    async recordHeartbeat(nodeId, atMs = Date.now()) {
      const changed = await db.run(
        `UPDATE nodes SET last_heartbeat_at_ms = $2, status = 'up', down_reason = NULL
           WHERE id = $1 AND revoked_at_ms IS NULL`,
        [nodeId, atMs],
      );
      requireChanged(changed, nodeId);
    },
    async listNodesNotSeenSince(atMs) {
      const rows = await db.query(
        `SELECT * FROM nodes WHERE status = 'up' AND revoked_at_ms IS NULL
           AND (last_heartbeat_at_ms IS NULL OR last_heartbeat_at_ms < $1)
         ORDER BY name, id`,
        [atMs],
      );
      return rows.map(toNode);
    },
    async setNodeStatus(nodeId, status, downReason) {
      const reason = status === 'down' ? (downReason ?? null) : null;
      // A revoked node stays revoked, whatever a heartbeat or the reconciler in flight says.
      const changed = await db.run(
        `UPDATE nodes SET status = $2,
           down_reason = CASE WHEN revoked_at_ms IS NULL THEN $3 ELSE 'revoked' END
         WHERE id = $1`,
        [nodeId, status, reason],
      );
      requireChanged(changed, nodeId);
    },
    async setNodeMaintenance(nodeId, maintenance) {
      const changed = await db.run(
        'UPDATE nodes SET maintenance = $2 WHERE id = $1 AND revoked_at_ms IS NULL',
        [nodeId, maintenance],
      );
      requireChanged(changed, nodeId);
    },
    async revokeNode(nodeId, atMs = Date.now()) {
      const changed = await db.run(
        `UPDATE nodes SET revoked_at_ms = COALESCE(revoked_at_ms, $2), status = 'down', down_reason = 'revoked'
         WHERE id = $1`,
        [nodeId, atMs],
      );
      requireChanged(changed, nodeId);
    },
  };
}
