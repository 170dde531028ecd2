-- The broker's own keys, shared by every replica: the signing keys (JWKS), the SSH user
-- CA's keys, the audit key and the database login key. The private material is sealed
-- (AES-256-GCM, a fresh nonce each time: nonce || ciphertext || tag, in base64) under the
-- key-encryption key every replica is given; the kind, id and algorithm are its
-- associated data, so a row edited in place does not open. Times: ms since the epoch.
CREATE TABLE broker_keys (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    alg TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set once rotated out: trusted (and published) until then.
    retire_at BIGINT,
    sealed TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Bumped in the transaction that changes broker_keys: replicas poll this one row and
-- reload the keys when it moves.
CREATE TABLE broker_keys_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO broker_keys_version (id, version) VALUES (1, 0);
