-- OpenSSH user certificates, one row each, recorded before the certificate is signed: the
-- row draws its serial (unique and never zero; in sequence, so the revocation list packs
-- them into bitmaps at about a bit each). The revocation list is read from here: every
-- certificate still within its validity whose grant is no longer active, or whose user is
-- locked. Times: ms since the epoch.
CREATE TABLE ssh_certs (
    serial INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- The signing CA's fingerprint (SHA256:…), and its key id.
    ca TEXT NOT NULL,
    key_id TEXT NOT NULL,
    -- The certified key's fingerprint (SHA256:…), never the key itself.
    key_fingerprint TEXT NOT NULL,
    -- Comma-separated; a principal never holds a comma.
    principals TEXT NOT NULL,
    valid_after INTEGER NOT NULL,
    valid_before INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX ssh_certs_valid ON ssh_certs (valid_before);
CREATE INDEX ssh_certs_request ON ssh_certs (request_id);
