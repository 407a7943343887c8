-- berth registry metadata, schema version 1. Portable SQL (SQLite and PostgreSQL).
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS repository_blobs (
    repo TEXT NOT NULL REFERENCES repositories(name),
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    -- last upload, link or mount (refreshed by each, and by a HEAD when old): GC's grace.
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX IF NOT EXISTS repository_blobs_digest ON repository_blobs(digest);
CREATE TABLE IF NOT EXISTS manifests (
    repo TEXT NOT NULL REFERENCES repositories(name),
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    artifact_type TEXT,
    subject TEXT,
    annotations TEXT,
    created_at BIGINT NOT NULL,
    -- last PUT (GC's grace counts from it; NULL in rows older than the column: created_at).
    -- Added to older databases by sqlite/gc.rs `migrate`.
    pushed_at BIGINT,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests(repo, subject);
-- kind 0: manifest -> blob, kind 1: index -> child manifest
CREATE TABLE IF NOT EXISTS manifest_refs (
    repo TEXT NOT NULL,
    manifest TEXT NOT NULL,
    child TEXT NOT NULL,
    kind INTEGER NOT NULL,
    PRIMARY KEY (repo, manifest, child, kind)
);
CREATE INDEX IF NOT EXISTS manifest_refs_child ON manifest_refs(child);
-- "does a manifest of this repository use this blob": blob deletes and garbage collection
CREATE INDEX IF NOT EXISTS manifest_refs_repo_child ON manifest_refs(repo, child, kind, manifest);
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL REFERENCES repositories(name),
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repo, name)
);
CREATE INDEX IF NOT EXISTS tags_digest ON tags(repo, digest);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- retention, quotas, usage: the last pull of each tag (written in batches), valid while the tag
-- still points at `digest`; manifests by digest, for quota checks and usage reports.
CREATE TABLE IF NOT EXISTS tag_pulls (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    pulled_at BIGINT NOT NULL,
    PRIMARY KEY (repo, tag)
);
CREATE INDEX IF NOT EXISTS manifests_digest ON manifests(digest);
