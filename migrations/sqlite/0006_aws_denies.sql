-- AWS session denies: what each IAM role's `latchkey-revocations` inline policy must hold
-- (written in the same transaction as the revocation or lock that calls for it), and an
-- outbox of roles whose policy must be written again, drained with backoff like
-- slack_outbox. Times: ms since the epoch.
CREATE TABLE aws_denies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    role_arn TEXT NOT NULL,
    -- `request`: sessions tagged latchkey:request = value; `identity`: sessions whose
    -- SourceIdentity is value, issued before `issued_before`.
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    issued_before INTEGER,
    -- Every session it covers has expired by then; the entry is removed after it.
    lasts_until INTEGER NOT NULL,
    -- For the audit log: the grant or lock it comes from, and what ended it.
    subject TEXT NOT NULL,
    resource TEXT,
    role TEXT,
    cause TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- When a policy holding it was first accepted by IAM; NULL while pending.
    written_at INTEGER,
    -- A failure to write it (or its not fitting) is already in the audit log.
    failure_reported BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (role_arn, kind, value)
);
CREATE INDEX aws_denies_role ON aws_denies (role_arn);

CREATE TABLE aws_deny_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    role_arn TEXT NOT NULL UNIQUE,
    -- Bumped by every enqueue, so a change made while a role is being written is written again.
    gen INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    -- Held by the worker writing it: one writer per role at a time, so an older document
    -- never lands after a newer one.
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX aws_deny_outbox_due ON aws_deny_outbox (next_at);
