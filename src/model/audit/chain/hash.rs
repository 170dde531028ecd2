//! Hashing and linking events: the canonical bytes of an event, its hash, and its
//! link to the one before it.

use crate::model::audit::canonical::{write_int, write_str, write_value, NotCanonical};
use crate::model::audit::AuditEvent;

/// The `prev_hash` of the first event: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an event hash is computed over, before the canonical event.
pub const DOMAIN: &[u8] = b"latchkey.audit.v1\n";

/// Appends the canonical JSON of `e` to `out`, with or without its `hash` member.
pub fn write_event(e: &AuditEvent, with_hash: bool, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
    let opt = |v: &Option<String>, out: &mut Vec<u8>| match v {
        Some(s) => write_str(s, out),
        None => out.extend_from_slice(b"null"),
    };
    // Members in RFC 8785 order (all keys are ASCII).
    out.extend_from_slice(b"{\"actor\":");
    write_str(&e.actor, out);
    out.extend_from_slice(b",\"at\":\"");
    crate::model::audit::write_at(e.at, out);
    out.push(b'"');
    out.extend_from_slice(b",\"client_addr\":");
    opt(&e.client_addr, out);
    out.extend_from_slice(b",\"details\":");
    write_value(&e.details, out)?;
    if with_hash {
        out.extend_from_slice(b",\"hash\":");
        write_str(&e.hash, out);
    }
    out.extend_from_slice(b",\"id\":");
    write_str(&e.id, out);
    out.extend_from_slice(b",\"outcome\":");
    write_str(&e.outcome, out);
    out.extend_from_slice(b",\"prev_hash\":");
    write_str(&e.prev_hash, out);
    out.extend_from_slice(b",\"reason\":");
    opt(&e.reason, out);
    out.extend_from_slice(b",\"request_id\":");
    opt(&e.request_id, out);
    out.extend_from_slice(b",\"resource\":");
    opt(&e.resource, out);
    out.extend_from_slice(b",\"role\":");
    opt(&e.role, out);
    out.extend_from_slice(b",\"seq\":");
    write_int(e.seq, out);
    out.extend_from_slice(b",\"subject\":");
    opt(&e.subject, out);
    out.extend_from_slice(b",\"type\":");
    write_str(&e.kind, out);
    out.extend_from_slice(b",\"user_agent\":");
    opt(&e.user_agent, out);
    out.push(b'}');
    Ok(())
}

/// The hash of `e` as the chain defines it (its `hash` member is not read).
pub fn event_hash(e: &AuditEvent) -> Result<String, NotCanonical> {
    let mut buf = Vec::with_capacity(640);
    hash_into(e, &mut buf).map(|h| String::from_utf8_lossy(&h).into_owned())
}

/// The hash of `e` as 64 hex digits, using `buf` as scratch space.
fn hash_into(e: &AuditEvent, buf: &mut Vec<u8>) -> Result<[u8; 64], NotCanonical> {
    buf.clear();
    buf.extend_from_slice(DOMAIN);
    write_event(e, false, buf)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, buf);
    let mut out = [0u8; 64];
    // 32 bytes always fill the 64 digits: encoding cannot fail.
    let _ = hex::encode_to_slice(digest.as_ref(), &mut out);
    Ok(out)
}

/// Whether `e` hashes to its stated hash.
pub(super) fn intact(e: &AuditEvent, buf: &mut Vec<u8>) -> bool {
    hash_into(e, buf).is_ok_and(|h| h.as_slice() == e.hash.as_bytes())
}

/// Gives `e` its place after `(prev_seq, prev_hash)` and its own hash.
pub fn link(e: &mut AuditEvent, prev_seq: i64, prev_hash: &str) -> Result<(), NotCanonical> {
    e.seq = prev_seq + 1;
    e.prev_hash = prev_hash.to_string();
    e.hash = event_hash(e)?;
    Ok(())
}
