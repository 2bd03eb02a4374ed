-- The Saker server's schema, one file for SQLite and PostgreSQL alike.
-- Portable types only: BIGINT (integers; booleans as 0/1; times as epoch
-- milliseconds), DOUBLE PRECISION, TEXT (JSON documents as text), BYTEA (raw
-- bytes; SQLite stores them as blobs whatever the declared type).

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,          -- 12 decimal digits, random
    name        TEXT NOT NULL UNIQUE,
    is_admin    BIGINT NOT NULL,
    admin_slot  BIGINT UNIQUE,             -- 1 for the administrator, NULL for members: at most one administrator
    created_at  BIGINT NOT NULL
);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,         -- the public 16 hex digits of sk_<kind>_<id>_<secret>
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    kind         TEXT NOT NULL,            -- api | agent
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL,            -- argon2id PHC string of the whole token
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked      BIGINT NOT NULL
);
CREATE INDEX tokens_account ON tokens (account_id);

-- One row per (account, finding id). The searchable facts are columns (the
-- criteria whitelist maps fields to them); body is the finding JSON as last
-- merged; archived/archived_by are the server's own state.
CREATE TABLE findings (
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    id                TEXT NOT NULL,
    type              TEXT NOT NULL,
    severity          DOUBLE PRECISION NOT NULL,
    region            TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    count             BIGINT NOT NULL,
    resource_type     TEXT,
    instance_id       TEXT,
    hostname          TEXT,
    ecs_cluster       TEXT,
    task_arn          TEXT,
    container_id      TEXT,
    container_name    TEXT,
    container_image   TEXT,
    k8s_workload      TEXT,
    k8s_namespace     TEXT,
    process_name      TEXT,
    executable_path   TEXT,
    executable_sha256 TEXT,
    agent_version     TEXT,
    archived          BIGINT NOT NULL,
    archived_by       TEXT,                -- user:<token id> | suppression:<rule name>
    body              TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX findings_updated ON findings (updated_at, id);
CREATE INDEX findings_created ON findings (created_at, id);
CREATE INDEX findings_account_updated ON findings (account_id, updated_at, id);
CREATE INDEX findings_account_created ON findings (account_id, created_at, id);

-- Each agent run's last cumulative count of a finding; findings.count is
-- their sum, so a redelivered batch never counts twice.
CREATE TABLE finding_sources (
    account_id TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    source     TEXT NOT NULL,              -- the agent's run id
    count      BIGINT NOT NULL,
    PRIMARY KEY (account_id, finding_id, source),
    FOREIGN KEY (account_id, finding_id) REFERENCES findings (account_id, id) ON DELETE CASCADE
);

CREATE TABLE filters (
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    action      TEXT NOT NULL,             -- ARCHIVE | NOOP
    rank        BIGINT NOT NULL,
    criteria    TEXT NOT NULL,             -- FindingCriteria JSON, as given
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);

CREATE TABLE lists (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,              -- threat | trusted
    category   TEXT,
    format     TEXT NOT NULL,
    content    BYTEA NOT NULL,
    active     BIGINT NOT NULL,
    ips        BIGINT NOT NULL,
    domains    BIGINT NOT NULL,
    hashes     BIGINT NOT NULL,
    skipped    BIGINT NOT NULL,
    messages   TEXT NOT NULL,              -- JSON array of the loader's messages
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE agents (
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    agent_id      TEXT NOT NULL,
    heartbeat     TEXT NOT NULL,           -- the last Heartbeat, JSON
    last_seen     BIGINT NOT NULL,         -- server clock
    health_status TEXT NOT NULL,           -- HEALTHY | UNHEALTHY
    health_issue  TEXT,
    health_since  BIGINT NOT NULL,
    PRIMARY KEY (account_id, agent_id)
);

CREATE TABLE health_events (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    issue       TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX health_events_at ON health_events (at);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,              -- JSON
    updated_at BIGINT NOT NULL
);

CREATE TABLE counters (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (key, value) VALUES ('lists_version', 0);
