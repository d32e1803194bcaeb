-- Central Hub schema, version 3: several hubs on one database. Hubs read one another's
-- heartbeats by last_seen; the leader (the holder of an advisory lock) records where it serves,
-- so the others can forward operator writes on alerts to it.

CREATE INDEX instances_last_seen ON instances (last_seen);

CREATE TABLE hub_leader (
    id      integer     PRIMARY KEY CHECK (id = 1),
    hub     text        NOT NULL,   -- the leader's hub ID
    api_url text        NOT NULL,   -- where it serves the API
    since   timestamptz NOT NULL
);
