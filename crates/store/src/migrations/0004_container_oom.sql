-- Migration 4: whether the kernel's OOM killer hit the container's last run (Docker's
-- State.OOMKilled); cleared when it starts again.
ALTER TABLE containers ADD COLUMN oom_killed BOOLEAN NOT NULL DEFAULT 0;
