-- The audit hash chain, its head (the one row every appender locks), and signed checkpoints.
-- Events written before this migration get their hashes when the broker next starts.
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE audit_head (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    number BIGINT PRIMARY KEY,
    events BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    prev TEXT,
    kid TEXT NOT NULL,
    signature TEXT NOT NULL,
    delivered_at BIGINT,
    delivery_error TEXT
);
