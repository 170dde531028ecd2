-- Access requests and their grants, reviews, and the audit log. Times: ms since the epoch.
CREATE TABLE access_requests (
    id TEXT PRIMARY KEY,
    requester_id TEXT NOT NULL,
    requester_name TEXT NOT NULL,
    resource TEXT NOT NULL,
    role TEXT NOT NULL,
    reason TEXT,
    ticket TEXT,
    duration_s INTEGER NOT NULL,
    state TEXT NOT NULL,
    terms_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    pending_until INTEGER NOT NULL,
    decided_at INTEGER,
    activation_deadline INTEGER,
    activated_at INTEGER,
    expires_at INTEGER,
    ended_at INTEGER,
    end_reason TEXT,
    extensions_used INTEGER NOT NULL DEFAULT 0,
    auto_approved INTEGER NOT NULL DEFAULT 0,
    breakglass INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    UNIQUE (requester_id, idempotency_key)
);
CREATE INDEX access_requests_state ON access_requests (state);
CREATE INDEX access_requests_requester ON access_requests (requester_id, created_at);

-- One row per human per request: the primary key makes "each human counts once" hold under races.
CREATE TABLE reviews (
    request_id TEXT NOT NULL REFERENCES access_requests (id),
    reviewer_id TEXT NOT NULL,
    reviewer_name TEXT NOT NULL,
    verdict TEXT NOT NULL,
    comment TEXT,
    at INTEGER NOT NULL,
    PRIMARY KEY (request_id, reviewer_id)
);

CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    subject TEXT,
    resource TEXT,
    role TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    request_id TEXT,
    client_addr TEXT,
    user_agent TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_subject ON audit_events (subject);
