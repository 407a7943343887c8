-- Migration 2: the container side tables (process identities, pauses, restart bookkeeping),
-- added as tables of their own while the store had no migrations, become columns of
-- `containers`. Rows of the side tables are carried over; a missing row meant the defaults.
ALTER TABLE containers ADD COLUMN pid_identity TEXT;      -- of the first process (pid)
ALTER TABLE containers ADD COLUMN monitor_pid BIGINT;     -- the berth process supervising it
ALTER TABLE containers ADD COLUMN monitor_identity TEXT;
ALTER TABLE containers ADD COLUMN paused_at BIGINT;       -- set while frozen (`berth pause`)
ALTER TABLE containers ADD COLUMN restart_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN stopped_by_user BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN restarting BOOLEAN NOT NULL DEFAULT 0;
UPDATE containers SET
    pid_identity = (SELECT p.pid_identity FROM container_processes p WHERE p.id = containers.id),
    monitor_pid = (SELECT p.monitor_pid FROM container_processes p WHERE p.id = containers.id),
    monitor_identity =
        (SELECT p.monitor_identity FROM container_processes p WHERE p.id = containers.id),
    paused_at = (SELECT z.paused_at FROM container_pauses z WHERE z.id = containers.id),
    restart_count = coalesce(
        (SELECT r.restart_count FROM container_restarts r WHERE r.id = containers.id), 0),
    stopped_by_user = coalesce(
        (SELECT r.stopped_by_user FROM container_restarts r WHERE r.id = containers.id), 0),
    restarting = coalesce(
        (SELECT r.restarting FROM container_restarts r WHERE r.id = containers.id), 0);
DROP TABLE container_processes;
DROP TABLE container_pauses;
DROP TABLE container_restarts;
