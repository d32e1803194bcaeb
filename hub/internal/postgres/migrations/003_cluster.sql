-- Central Hub schema, version 3: several hubs on one database. The leader (the holder of an
-- advisory lock) records where it serves, so the others can forward changes to alerts to it.

CREATE TABLE hub_leader (
    id      integer     PRIMARY KEY CHECK (id = 1),
    hub     text        NOT NULL,   -- the leader's hub ID
    api_url text        NOT NULL,   -- where it serves the API
    since   timestamptz NOT NULL
);
