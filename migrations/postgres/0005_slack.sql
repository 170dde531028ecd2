-- Slack: pending posts and updates (an outbox written in the same transaction as the
-- request change it announces), the message of each announced request, Slack users bound
-- to latchkey users, one-time link codes, and clicks already handled. Times: ms since the epoch.
CREATE TABLE slack_outbox (
    id BIGSERIAL PRIMARY KEY,
    -- One pending row per purpose: `message:REQUEST` or `dm:REQUEST:STATE`.
    dedupe TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL REFERENCES access_requests (id),
    kind TEXT NOT NULL,
    -- Bumped by every enqueue, so a change made while a row is being sent is sent again.
    gen BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX slack_outbox_due ON slack_outbox (next_at);

-- A request announced in Slack; channel and ts once the post succeeded.
CREATE TABLE slack_messages (
    request_id TEXT PRIMARY KEY REFERENCES access_requests (id),
    first_request BOOLEAN NOT NULL DEFAULT FALSE,
    channel TEXT,
    ts TEXT
);

-- A Slack user bound to a latchkey user: `code` (latchkey slack link) or `email` (verified email seen in users.info).
CREATE TABLE slack_bindings (
    slack_user_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    method TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX slack_bindings_user ON slack_bindings (user_id);

-- SHA-256 of a one-time link code, until it is used or expires.
CREATE TABLE slack_link_codes (
    code_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    expires_at BIGINT NOT NULL
);

-- Interactions already handled (action_ts or trigger_id, with the Slack user): retries and double clicks act once.
CREATE TABLE slack_clicks (
    click_key TEXT PRIMARY KEY,
    at BIGINT NOT NULL
);

-- A Slack click on a role that needs a fresh login: the reviewer confirms at the identity
-- provider (code + PKCE, prompt=login) before the review counts. Single use, ten minutes.
CREATE TABLE slack_confirmations (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL REFERENCES access_requests (id),
    verdict TEXT NOT NULL,
    slack_user_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
