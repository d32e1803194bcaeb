-- Central Hub schema, version 1: the registry's instances, alerts, silences and the audit log.
-- Documents are the hub's own JSON; the columns beside them are what queries and heartbeats need.

CREATE TABLE instances (
    tenant    text        NOT NULL,
    service   text        NOT NULL,
    instance  text        NOT NULL,
    doc       jsonb       NOT NULL,          -- the whole instance as its last state change left it
    boot      bigint      NOT NULL,
    seq       bigint      NOT NULL,          -- raised by heartbeats of the same boot
    last_seen timestamptz NOT NULL,          -- raised by heartbeats of the same boot
    PRIMARY KEY (tenant, service, instance)
);

CREATE TABLE alerts (
    id     text  PRIMARY KEY,
    tenant text  NOT NULL,
    state  text  NOT NULL,
    doc    jsonb NOT NULL                    -- the alert with the engine's book
);

CREATE TABLE silences (
    id     text  PRIMARY KEY,
    tenant text  NOT NULL,
    doc    jsonb NOT NULL
);

CREATE TABLE audit (
    seq    bigserial   PRIMARY KEY,
    at     timestamptz NOT NULL,
    tenant text        NOT NULL,
    doc    jsonb       NOT NULL
);
CREATE INDEX audit_tenant_seq ON audit (tenant, seq DESC);
