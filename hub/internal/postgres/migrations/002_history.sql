-- Central Hub schema, version 2: history. Raw samples and transitions are range-partitioned by
-- day (the hub creates the partitions ahead and drops whole ones for retention; this runs
-- unchanged on TimescaleDB, which is PostgreSQL); hourly roll-ups serve long ranges without
-- reading raw rows. Statuses are small integers: 0 passing, 1 warning, 2 critical, 3 unknown.

CREATE TABLE history_samples (
    at         timestamptz NOT NULL,
    tenant     text        NOT NULL,
    service    text        NOT NULL,
    instance   text        NOT NULL,
    check_name text        NOT NULL,   -- '' for the instance's own status
    status     smallint    NOT NULL,
    latency_ms real        NOT NULL
) PARTITION BY RANGE (at);
CREATE INDEX history_samples_key ON history_samples (tenant, service, instance, at);

CREATE TABLE history_transitions (
    at         timestamptz NOT NULL,
    seq        bigserial,               -- order of writing, for transitions of one instant
    tenant     text        NOT NULL,
    service    text        NOT NULL,
    instance   text        NOT NULL,
    check_name text        NOT NULL,   -- '' for the instance itself
    from_status text       NOT NULL,   -- '' when it appeared
    to_status  text        NOT NULL,   -- '' when it went
    output     text        NOT NULL
) PARTITION BY RANGE (at);
CREATE INDEX history_transitions_key ON history_transitions (tenant, service, at);

CREATE TABLE history_hourly (
    tenant      text             NOT NULL,
    service     text             NOT NULL,
    instance    text             NOT NULL,
    check_name  text             NOT NULL,
    hour        timestamptz      NOT NULL,
    samples     bigint           NOT NULL,
    up          bigint           NOT NULL,  -- samples passing or warning
    latency_sum double precision NOT NULL,
    latency_max double precision NOT NULL,
    PRIMARY KEY (tenant, service, instance, check_name, hour)
);
CREATE INDEX history_hourly_hour ON history_hourly (hour);
