-- Users, sessions, locks and single-use login state. Times are milliseconds since the epoch (UTC).
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    name TEXT,
    groups_json TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX users_email ON users (email);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    kid TEXT NOT NULL,
    dev BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    auth_time BIGINT,
    revoked_at BIGINT,
    revoked_reason TEXT,
    client_addr TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE user_locks (
    identifier TEXT PRIMARY KEY,
    reason TEXT,
    locked_by TEXT NOT NULL,
    locked_at BIGINT NOT NULL
);

-- A browser login's nonce, issued by the broker and consumed once.
CREATE TABLE login_attempts (
    id TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- SHA-256 of every ID token exchanged, until it expires: an ID token logs in once.
CREATE TABLE used_id_tokens (
    token_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
