-- Access requests and their grants, reviews, and the audit log. Times: ms since the epoch.
CREATE TABLE access_requests (
    id TEXT PRIMARY KEY,
    requester_id TEXT NOT NULL,
    requester_name TEXT NOT NULL,
    resource TEXT NOT NULL,
    role TEXT NOT NULL,
    reason TEXT,
    ticket TEXT,
    duration_s BIGINT NOT NULL,
    state TEXT NOT NULL,
    terms_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    pending_until BIGINT NOT NULL,
    decided_at BIGINT,
    activation_deadline BIGINT,
    activated_at BIGINT,
    expires_at BIGINT,
    ended_at BIGINT,
    end_reason TEXT,
    extensions_used BIGINT NOT NULL DEFAULT 0,
    auto_approved BOOLEAN NOT NULL DEFAULT FALSE,
    breakglass BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 0,
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
    at BIGINT NOT NULL,
    PRIMARY KEY (request_id, reviewer_id)
);

CREATE TABLE audit_events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    at BIGINT NOT NULL,
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
