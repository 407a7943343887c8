-- Migration 3: a container's health (`HEALTHCHECK`, `--health-*`), as its supervisor last
-- recorded it. NULL status: no health check (Docker's "none").
ALTER TABLE containers ADD COLUMN health_status TEXT;     -- starting | healthy | unhealthy
ALTER TABLE containers ADD COLUMN health_failing_streak BIGINT NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN health_log TEXT NOT NULL DEFAULT '[]'; -- JSON: the last 5 probes
