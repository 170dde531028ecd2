-- Several replicas on one database: the lease of each periodic job (the expiry sweep,
-- checkpoints by interval), held by one replica at a time. `epoch` grows with every change
-- of holder; each write the leader makes checks, in its own transaction, that it still
-- holds the lease with its epoch (fencing), so a leader cut off silently cannot write
-- after another took over. Times: ms since the epoch (the database's clock).
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A Slack outbox row being sent, until when: an enqueue meanwhile makes the row due again
-- (next_at) without handing it to a second sender while the first still holds it.
ALTER TABLE slack_outbox ADD COLUMN leased_until BIGINT;
