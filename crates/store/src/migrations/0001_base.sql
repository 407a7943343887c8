-- berth local image store: the schema of the first release (migration 1). Never edit: add a migration.
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,            -- config digest: the image ID
    manifest TEXT NOT NULL,         -- digest of the platform manifest
    manifest_media_type TEXT NOT NULL,
    os TEXT NOT NULL,
    architecture TEXT NOT NULL,
    variant TEXT,
    created TEXT,                   -- from the image config (RFC 3339)
    size BIGINT NOT NULL,           -- config + layers as stored
    added_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS image_names (
    name TEXT NOT NULL,             -- full repository name: docker.io/library/hello-world
    tag TEXT NOT NULL,
    image_id TEXT NOT NULL,
    tagged_at BIGINT NOT NULL,
    PRIMARY KEY (name, tag)
);
CREATE TABLE IF NOT EXISTS repo_digests (
    name TEXT NOT NULL,
    digest TEXT NOT NULL,           -- what the registry serves (index or manifest digest)
    image_id TEXT NOT NULL,
    PRIMARY KEY (name, digest)
);
CREATE TABLE IF NOT EXISTS image_blobs (
    image_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
);
CREATE INDEX IF NOT EXISTS image_blobs_digest ON image_blobs(digest);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,            -- 64 hex
    name TEXT NOT NULL UNIQUE,
    image TEXT NOT NULL,            -- what the user asked for (hello-world)
    image_id TEXT NOT NULL,
    command TEXT NOT NULL,          -- JSON array: entrypoint + cmd as run
    created_at BIGINT NOT NULL,
    state TEXT NOT NULL,            -- created | running | exited
    pid BIGINT,
    exit_code BIGINT,
    started_at BIGINT,
    finished_at BIGINT,
    config TEXT NOT NULL DEFAULT '{}' -- JSON: everything else the runtime needs
);
-- Which process incarnations a running container's record refers to, so that a record whose
-- supervisor died (killed, host rebooted) is not shown running forever. An identity is
-- "<boot id>:<start time in clock ticks>" from /proc, which a recycled pid does not share.
-- A table of its own so that stores made before it keep opening unchanged.
CREATE TABLE IF NOT EXISTS container_processes (
    id TEXT PRIMARY KEY,            -- the container's id
    pid_identity TEXT,              -- of the container's first process (containers.pid)
    monitor_pid BIGINT,             -- the berth process that supervises it and records its exit
    monitor_identity TEXT
);
-- Running containers whose processes are frozen (`berth pause`): a row while paused, removed
-- when the container is unpaused, exits or goes. A table of its own so that stores made before
-- it keep opening unchanged (their containers are simply not paused).
CREATE TABLE IF NOT EXISTS container_pauses (
    id TEXT PRIMARY KEY,            -- the container's id
    paused_at BIGINT NOT NULL
);
-- Restart bookkeeping (`run --restart`): how often the monitor restarted the container, whether
-- the user stopped it (so it is not restarted) and whether it waits to be restarted. A table of
-- its own so that stores made before it keep opening unchanged (no restarts, not stopped).
CREATE TABLE IF NOT EXISTS container_restarts (
    id TEXT PRIMARY KEY,            -- the container's id
    restart_count BIGINT NOT NULL DEFAULT 0,
    stopped_by_user BOOLEAN NOT NULL DEFAULT 0,
    restarting BOOLEAN NOT NULL DEFAULT 0
);
