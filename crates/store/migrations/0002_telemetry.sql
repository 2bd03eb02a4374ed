-- Raw telemetry for hunting: the enriched events agents send when
-- `send_telemetry` is on, kept for `[server] telemetry_retention_hours`.
-- Same portable rules as 0001: BIGINT, DOUBLE PRECISION, TEXT; times as
-- epoch milliseconds.
--
-- One row per event. (account_id, run_id, seq) names it — the agent run and
-- the event's spool sequence number — so a batch delivered twice inserts
-- nothing the second time (INSERT ... ON CONFLICT DO NOTHING). The columns
-- between time_ms and body are facts copied out of the event JSON so that a
-- hunt can filter on them with an index; body is the event as received.
CREATE TABLE telemetry (
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    run_id          TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    agent_id        TEXT NOT NULL,
    time_ms         BIGINT NOT NULL,       -- the event's time (the agent's clock)
    received_ms     BIGINT NOT NULL,       -- the server's clock at ingest: retention counts from it
    kind            TEXT NOT NULL,
    hostname        TEXT,
    process_name    TEXT,                  -- process.name (comm)
    executable_path TEXT,                  -- process.executable
    container_id    TEXT,
    container_name  TEXT,
    ecs_cluster     TEXT,
    remote_ip       TEXT,                  -- net.remoteAddress
    dns_name        TEXT,                  -- dns.questions[0].name
    body            TEXT NOT NULL,
    PRIMARY KEY (account_id, run_id, seq)
);
-- Newest first is the only order: (time_ms, account, run, seq) is the keyset.
CREATE INDEX telemetry_time ON telemetry (time_ms, account_id, run_id, seq);
CREATE INDEX telemetry_account_time ON telemetry (account_id, time_ms, run_id, seq);
CREATE INDEX telemetry_received ON telemetry (received_ms);
CREATE INDEX telemetry_executable ON telemetry (executable_path, time_ms);
CREATE INDEX telemetry_process ON telemetry (process_name, time_ms);
CREATE INDEX telemetry_container ON telemetry (container_id, time_ms);
CREATE INDEX telemetry_cluster ON telemetry (ecs_cluster, time_ms);
CREATE INDEX telemetry_remote_ip ON telemetry (remote_ip, time_ms);
CREATE INDEX telemetry_dns_name ON telemetry (dns_name, time_ms);
