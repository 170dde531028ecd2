-- PostgreSQL logins made for grants, recorded before they are made (so one a crash left
-- behind is still found and ended), and the outbox of their ends: a change that ends a
-- grant (revocation, expiry, lock) marks its logins in the same transaction, and the
-- worker ends each (NOLOGIN, sessions terminated, memberships revoked, role dropped),
-- retrying with backoff. Times: ms since the epoch.
CREATE TABLE db_logins (
    id BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    role TEXT NOT NULL,
    -- Where it lives (`host:port/database`) and its name there.
    target TEXT NOT NULL,
    login TEXT NOT NULL,
    -- 1 for a grant's first login; more when one ended early (a lock) was made again.
    incarnation BIGINT NOT NULL,
    -- creating | live | dropped | disabled
    state TEXT NOT NULL,
    -- VALID UNTIL as last set on the server.
    valid_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Held by whoever is making or ending it.
    lease_until BIGINT,
    -- Its end, queued with the change that ended the grant.
    end_cause TEXT,
    end_queued_at BIGINT,
    ended_at BIGINT,
    terminated BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    -- A failure to end it is already in the audit log.
    failure_reported BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (target, login)
);
-- One login being made or live per grant.
CREATE UNIQUE INDEX db_logins_one_per_grant ON db_logins (request_id) WHERE state IN ('creating', 'live');
CREATE INDEX db_logins_open ON db_logins (state, next_at) WHERE state IN ('creating', 'live');
CREATE INDEX db_logins_user ON db_logins (user_id) WHERE state IN ('creating', 'live');
