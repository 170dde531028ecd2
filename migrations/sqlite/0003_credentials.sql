-- Every credential issued inside a grant: never the secret, only its fingerprint.
CREATE TABLE credential_issuances (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES access_requests (id),
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX credential_issuances_request ON credential_issuances (request_id);
CREATE INDEX access_requests_grant ON access_requests (requester_id, resource, state);
