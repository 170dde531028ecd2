//! Events as the canonical JSON lines of `events.jsonl`, the feed and `audit tail`:
//! written once and checked from the same bytes, and read back without re-encoding.

use crate::model::audit::chain::{event_hash, write_event, Link, DOMAIN};
use crate::model::audit::AuditEvent;

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=hay.len().checked_sub(needle.len())?)
        .rev()
        .find(|&i| hay[i] == needle[0] && &hay[i..i + needle.len()] == needle)
}

/// The link of a line as the broker writes it (canonical JSON): its hash is over
/// the line's own bytes without the top-level `hash` member, which in canonical JSON is
/// the last `,"hash":"` in the line (quotes inside strings are always escaped, and only
/// `details`, which comes before, can nest objects). `None` when that does not hold, and
/// the line is then parsed and re-encoded: the slow path decides.
pub fn link_of_canonical_line(line: &[u8]) -> Option<Link> {
    const HASH: &[u8] = b",\"hash\":\"";
    let pos = rfind(line, HASH)?;
    let stated = line.get(pos + HASH.len()..pos + HASH.len() + 64)?;
    if line.get(pos + HASH.len() + 64) != Some(&b'"') {
        return None;
    }
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(DOMAIN);
    ctx.update(&line[..pos]);
    ctx.update(&line[pos + HASH.len() + 65..]);
    let hash = hex::encode(ctx.finish());
    if hash.as_bytes() != stated {
        return None;
    }
    const PREV: &[u8] = b",\"prev_hash\":\"";
    let p = rfind(line, PREV)? + PREV.len();
    let prev_hash = std::str::from_utf8(line.get(p..p + 64)?).ok()?.to_string();
    const SEQ: &[u8] = b",\"seq\":";
    let q = rfind(line, SEQ)? + SEQ.len();
    let digits = line[q..].iter().take_while(|b| b.is_ascii_digit()).count();
    let seq = std::str::from_utf8(&line[q..q + digits])
        .ok()?
        .parse()
        .ok()?;
    Some(Link {
        seq,
        prev_hash,
        hash,
        intact: true,
    })
}

/// Each event as its canonical JSON line (with its stated hash) and its link, computed
/// from the same bytes: what an export writes and checks at once. Split across threads
/// on two or more cores.
pub fn encode_lines(events: &[AuditEvent]) -> (Vec<u8>, Vec<Link>) {
    fn encode(events: &[AuditEvent]) -> (Vec<u8>, Vec<Link>) {
        let mut out = Vec::with_capacity(events.len() * 512);
        let mut links = Vec::with_capacity(events.len());
        for e in events {
            let start = out.len();
            let written = write_event(e, true, &mut out);
            let line = &out[start..];
            let link = match (written, link_of_canonical_line(line)) {
                (Ok(()), Some(link)) => link,
                _ => Link {
                    seq: e.seq,
                    intact: event_hash(e).is_ok_and(|h| h == e.hash),
                    prev_hash: e.prev_hash.clone(),
                    hash: e.hash.clone(),
                },
            };
            out.push(b'\n');
            links.push(link);
        }
        (out, links)
    }
    let parts = crate::model::audit::par::chunks(events, |chunk| vec![encode(chunk)]);
    let (mut out, mut links) = (Vec::new(), Vec::new());
    for (bytes, l) in parts {
        out.extend_from_slice(&bytes);
        links.extend(l);
    }
    (out, links)
}

/// Reads one JSON line as an event.
pub fn parse_event(line: &[u8]) -> Result<AuditEvent, String> {
    serde_json::from_slice(line).map_err(|e| e.to_string())
}

/// The link of any line: from its own bytes when it is canonical (the fast path), else
/// by parsing it and hashing its canonical form.
pub fn link_of_line(line: &[u8]) -> Result<Link, String> {
    let line = line.trim_ascii_end();
    if let Some(link) = link_of_canonical_line(line) {
        return Ok(link);
    }
    let e = parse_event(line)?;
    Ok(Link {
        seq: e.seq,
        intact: event_hash(&e).is_ok_and(|h| h == e.hash),
        prev_hash: e.prev_hash,
        hash: e.hash,
    })
}
