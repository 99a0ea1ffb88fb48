/**
 * The schema, as an ordered list of versioned steps. Never edit a released step: append a new one.
 * Statements use only SQL both SQLite and PostgreSQL accept: TEXT ids, BIGINT epoch milliseconds and
 * byte counts, JSON stored as TEXT.
 */
export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

export const storeMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    statements: [
      `CREATE TABLE sites (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        region TEXT,
        created_at_ms BIGINT NOT NULL
      )`,
      `CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        site_id TEXT NOT NULL REFERENCES sites (id),
        name TEXT NOT NULL,
        address TEXT NOT NULL,
        status TEXT NOT NULL,
        credential_hash TEXT NOT NULL,
        last_heartbeat_at_ms BIGINT,
        labels TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        revoked_at_ms BIGINT
      )`,
      'CREATE INDEX nodes_credential_hash ON nodes (credential_hash)',
      'CREATE INDEX nodes_site ON nodes (site_id)',
      `CREATE TABLE devices (
        node_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
        device_index INTEGER NOT NULL,
        vendor TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        memory_bytes BIGINT NOT NULL,
        hardware_id TEXT,
        PRIMARY KEY (node_id, device_index)
      )`,
      `CREATE TABLE deployments (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        model_ref TEXT NOT NULL,
        quant TEXT,
        engine TEXT,
        replicas INTEGER NOT NULL,
        site_constraints TEXT NOT NULL,
        status TEXT NOT NULL,
        status_reason TEXT,
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL
      )`,
      `CREATE TABLE instances (
        id TEXT PRIMARY KEY,
        deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
        node_id TEXT REFERENCES nodes (id) ON DELETE SET NULL,
        state TEXT NOT NULL,
        engine TEXT NOT NULL,
        port INTEGER,
        allocations TEXT NOT NULL,
        restarts INTEGER NOT NULL,
        last_error TEXT,
        downloaded_bytes BIGINT,
        download_total_bytes BIGINT,
        version INTEGER NOT NULL,
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL
      )`,
      'CREATE INDEX instances_deployment ON instances (deployment_id)',
      'CREATE INDEX instances_node ON instances (node_id)',
      `CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        revoked_at_ms BIGINT
      )`,
      `CREATE TABLE join_tokens (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        expires_at_ms BIGINT NOT NULL,
        used_at_ms BIGINT,
        created_at_ms BIGINT NOT NULL
      )`,
      `CREATE TABLE usage_records (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        at_ms BIGINT NOT NULL
      )`,
      'CREATE INDEX usage_records_key_at ON usage_records (key_id, at_ms)',
    ],
  },
  {
    version: 2,
    name: 'api key limits',
    statements: [
      // JSON list of deployment names the key may call; NULL means every model.
      'ALTER TABLE api_keys ADD COLUMN allowed_models TEXT',
      'ALTER TABLE api_keys ADD COLUMN rpm INTEGER',
      'ALTER TABLE api_keys ADD COLUMN tpm INTEGER',
      'ALTER TABLE api_keys ADD COLUMN token_budget BIGINT',
      'ALTER TABLE api_keys ADD COLUMN region TEXT',
      'ALTER TABLE api_keys ADD COLUMN last_used_at_ms BIGINT',
    ],
  },
  {
    version: 3,
    name: 'usage ledger with the full usage event',
    statements: [
      // Rows from before this step keep NULL site/instance/timings and count as successful requests.
      'ALTER TABLE usage_records ADD COLUMN site_name TEXT',
      'ALTER TABLE usage_records ADD COLUMN instance_id TEXT',
      "ALTER TABLE usage_records ADD COLUMN route TEXT NOT NULL DEFAULT ''",
      'ALTER TABLE usage_records ADD COLUMN ttft_ms DOUBLE PRECISION',
      'ALTER TABLE usage_records ADD COLUMN duration_ms DOUBLE PRECISION',
      'ALTER TABLE usage_records ADD COLUMN status INTEGER NOT NULL DEFAULT 200',
      "ALTER TABLE usage_records ADD COLUMN outcome TEXT NOT NULL DEFAULT 'ok'",
      // 0 or 1: both databases accept it, unlike BOOLEAN literals.
      'ALTER TABLE usage_records ADD COLUMN usage_estimated INTEGER NOT NULL DEFAULT 0',
      'CREATE INDEX usage_records_at ON usage_records (at_ms)',
    ],
  },
  {
    version: 4,
    name: 'external endpoints',
    statements: [
      `CREATE TABLE endpoints (
        id TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        url TEXT NOT NULL,
        site_id TEXT NOT NULL REFERENCES sites (id),
        api_key TEXT,
        health TEXT NOT NULL,
        last_check_at_ms BIGINT,
        last_error TEXT,
        created_at_ms BIGINT NOT NULL,
        UNIQUE (model, url)
      )`,
      'CREATE INDEX endpoints_model ON endpoints (model)',
    ],
  },
  {
    version: 5,
    name: 'scale to zero',
    statements: [
      // The replicas kept while the deployment is idle; rows from before this step keep all of them.
      'ALTER TABLE deployments ADD COLUMN min_replicas INTEGER',
      'UPDATE deployments SET min_replicas = replicas',
      'ALTER TABLE deployments ADD COLUMN idle_timeout_ms BIGINT NOT NULL DEFAULT 600000',
      'ALTER TABLE deployments ADD COLUMN last_request_at_ms BIGINT',
    ],
  },
  {
    version: 6,
    name: 'engine keys',
    statements: [
      // The bearer secret an instance's engine requires (gateways send it); instances from before this
      // step have none and run open, as they did.
      'ALTER TABLE instances ADD COLUMN engine_key TEXT',
    ],
  },
  {
    version: 7,
    name: 'endpoint upstream model',
    statements: [
      // The name the upstream server serves the model under, when clients use another (NULL: the same).
      'ALTER TABLE endpoints ADD COLUMN upstream_model TEXT',
    ],
  },
  {
    version: 8,
    name: 'deployment context',
    statements: [
      // Context tokens per stream its instances run with (NULL: the control plane's --context).
      'ALTER TABLE deployments ADD COLUMN context_tokens INTEGER',
    ],
  },
  {
    version: 9,
    name: 'deployment revisions',
    statements: [
      // Bumped when what runs changes (model, quantization, engine, context, sites): a rolling update.
      'ALTER TABLE deployments ADD COLUMN revision INTEGER NOT NULL DEFAULT 1',
      // The revision an instance was placed for, and what it was launched with (JSON; NULL: placed
      // before revisions, it runs what its deployment says).
      'ALTER TABLE instances ADD COLUMN revision INTEGER NOT NULL DEFAULT 1',
      'ALTER TABLE instances ADD COLUMN launch_spec TEXT',
    ],
  },
  {
    version: 10,
    name: 'node maintenance',
    statements: [
      // NULL: schedulable; 'cordoned': nothing new is placed on it; 'draining': its instances move too.
      'ALTER TABLE nodes ADD COLUMN maintenance TEXT',
    ],
  },
  {
    version: 11,
    name: 'usage gateway site',
    statements: [
      // The room of the gateway that took the request (NULL: the control plane's own, or a record from
      // before it was kept), beside site_name, the room whose instance answered.
      'ALTER TABLE usage_records ADD COLUMN gateway_site TEXT',
    ],
  },
  {
    version: 12,
    name: 'node down reason',
    statements: [
      // Why a node is down (NULL while up): 'left' (its worker shut down and said so), 'no_heartbeat'
      // (silent past the timeout: killed, crashed, cut off) or 'revoked'.
      'ALTER TABLE nodes ADD COLUMN down_reason TEXT',
      "UPDATE nodes SET down_reason = 'revoked' WHERE revoked_at_ms IS NOT NULL",
    ],
  },
];
