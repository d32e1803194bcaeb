-- Central Hub schema, version 4: desired configs, one per tenant and service, versioned. The
-- config is `json`, not `jsonb`: kept byte for byte as the hub wrote it, so its checksum holds.
-- A write checks and raises the version in one statement (the row lock orders hubs sharing the
-- database); its audit entry goes to the audit table in the same transaction.

CREATE TABLE desired_configs (
    tenant     text        NOT NULL,
    service    text        NOT NULL,
    version    bigint      NOT NULL CHECK (version > 0),
    config     json        NOT NULL,
    checksum   text        NOT NULL,
    updated_by text        NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, service)
);
