-- Central Hub schema, version 2: history. Raw samples and transitions are range-partitioned by
-- day (the hub creates the partitions ahead and drops whole ones for retention; this runs
-- unchanged on TimescaleDB, which is PostgreSQL); hourly roll-ups serve long ranges without
-- reading raw rows. Statuses are small integers: 0 passing, 1 warning, 2 critical, 3 unknown.
-- A sample is one row with its checks as parallel arrays (names, statuses, latencies): one row
-- and one roll-up update per instance and sample, whatever its number of checks.

CREATE TABLE history_samples (
    at         timestamptz NOT NULL,
    tenant     text        NOT NULL,
    service    text        NOT NULL,
    instance   text        NOT NULL,
    status     smallint    NOT NULL,   -- the instance's
    checks     text[]      NOT NULL,
    statuses   smallint[]  NOT NULL,
    latencies  real[]      NOT NULL    -- milliseconds
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

-- One row per instance, hour and set of checks (a new boot may change the set within an hour):
-- how many samples, how many found the instance up (passing or warning), and per check (in the
-- order of checks) the sum and maximum of its latencies over those samples.
CREATE TABLE history_hourly (
    tenant      text               NOT NULL,
    service     text               NOT NULL,
    instance    text               NOT NULL,
    hour        timestamptz        NOT NULL,
    checks      text[]             NOT NULL,
    samples     bigint             NOT NULL,
    up          bigint             NOT NULL,
    latency_sum double precision[] NOT NULL,
    latency_max double precision[] NOT NULL,
    PRIMARY KEY (tenant, service, instance, hour, checks)
);
CREATE INDEX history_hourly_hour ON history_hourly (hour);
