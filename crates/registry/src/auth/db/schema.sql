-- berth registry access control, schema version 1.
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS teams (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS team_members (
    team TEXT NOT NULL REFERENCES teams(name) ON DELETE CASCADE,
    member TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    PRIMARY KEY (team, member)
);
-- subject: a user name, or '@' and a team name
CREATE TABLE IF NOT EXISTS grants (
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (subject, scope, role)
);
CREATE TABLE IF NOT EXISTS public_scopes (
    scope TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
-- scopes: SCOPE:ACTIONS entries separated by spaces
CREATE TABLE IF NOT EXISTS robots (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    label TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX IF NOT EXISTS robots_owner ON robots(owner, label);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms BIGINT NOT NULL,
    action TEXT NOT NULL,
    success INTEGER NOT NULL,
    actor TEXT,
    client TEXT,
    repo TEXT,
    target TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ms);
