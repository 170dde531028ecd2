-- The audit hash chain, its head (the one row every appender locks), and signed checkpoints.
-- Events written before this migration get their hashes when the broker next starts.
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    number INTEGER PRIMARY KEY,
    events INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    at INTEGER NOT NULL,
    prev TEXT,
    kid TEXT NOT NULL,
    signature TEXT NOT NULL,
    delivered_at INTEGER,
    delivery_error TEXT
);
