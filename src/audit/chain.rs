//! The hash chain: each event carries the hash of the one before it, so an edit, a
//! deletion, an insertion or a reordering breaks the chain at that event.
//!
//! `hash = lowercase hex of SHA-256("latchkey.audit.v1\n" || JCS(event without "hash"))`,
//! where the event is the JSON object of `events.jsonl` (see [`write_event`]) and JCS is
//! the canonical form of [`super::canonical`]. The first event's `prev_hash` is
//! [`GENESIS`]. The README gives the same rule for writers of other verifiers.

use super::canonical::{write_int, write_str, write_value, NotCanonical};
use super::AuditEvent;

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
    super::write_at(e.at, out);
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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in digest.as_ref().iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 0xf) as usize];
    }
    Ok(out)
}

/// Whether `e` hashes to its stated hash.
fn intact(e: &AuditEvent, buf: &mut Vec<u8>) -> bool {
    hash_into(e, buf).is_ok_and(|h| h.as_slice() == e.hash.as_bytes())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// Gives `e` its place after `(prev_seq, prev_hash)` and its own hash.
pub fn link(e: &mut AuditEvent, prev_seq: i64, prev_hash: &str) -> Result<(), NotCanonical> {
    e.seq = prev_seq + 1;
    e.prev_hash = prev_hash.to_string();
    e.hash = event_hash(e)?;
    Ok(())
}

/// The first thing found wrong, and at which sequence number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// The first sequence number that cannot be trusted.
    pub seq: i64,
    /// A stable code: `edited`, `missing`, `broken_link`, `truncated`, `checkpoint_mismatch`.
    pub code: String,
    /// What was found, in words.
    pub message: String,
}

impl Problem {
    /// A problem at `seq`.
    pub fn new(seq: i64, code: &str, message: String) -> Self {
        Problem {
            seq,
            code: code.to_string(),
            message,
        }
    }
}

/// What the chain check needs of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its sequence number.
    pub seq: i64,
    /// The hash it names as its predecessor's.
    pub prev_hash: String,
    /// Its own stated hash.
    pub hash: String,
    /// Whether its content hashes to `hash`.
    pub intact: bool,
}

/// Checks events in sequence order, one page at a time, against the chain and against
/// the head hashes of checkpoints it is given.
#[derive(Debug)]
pub struct ChainVerifier {
    expected: i64,
    prev_hash: String,
    /// (event count, head hash, checkpoint number), ascending by count.
    anchors: Vec<(i64, String, i64)>,
    next_anchor: usize,
    /// The count of the last checkpoint found to match.
    last_good_anchor: i64,
    checked: u64,
}

impl ChainVerifier {
    /// Starts after event `start_seq - 1`, whose hash is `prev_hash` ([`GENESIS`] at 1).
    /// `anchors` are checkpoints as (event count, head hash, number).
    pub fn new(start_seq: i64, prev_hash: &str, mut anchors: Vec<(i64, String, i64)>) -> Self {
        anchors.sort_by_key(|a| a.0);
        // Checkpoints before the start cannot be checked here.
        anchors.retain(|a| a.0 >= start_seq - 1);
        let mut v = ChainVerifier {
            expected: start_seq,
            prev_hash: prev_hash.to_string(),
            anchors,
            next_anchor: 0,
            last_good_anchor: start_seq - 1,
            checked: 0,
        };
        // A checkpoint exactly at the starting point is checked against `prev_hash`.
        while v.next_anchor < v.anchors.len() && v.anchors[v.next_anchor].0 == start_seq - 1 {
            v.next_anchor += 1;
        }
        v
    }

    /// How many events have been checked.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The sequence number expected next.
    pub fn next_seq(&self) -> i64 {
        self.expected
    }

    /// The hash of the last event checked.
    pub fn head_hash(&self) -> &str {
        &self.prev_hash
    }

    /// Checks the next events. Their hashes are computed in parallel when there are many.
    pub fn push(&mut self, events: &[AuditEvent]) -> Result<(), Problem> {
        for (e, intact) in events.iter().zip(intact_flags(events)) {
            self.step(e.seq, intact, &e.prev_hash, &e.hash)?;
        }
        Ok(())
    }

    /// Checks the next events, each already reduced to its place, links and whether its
    /// content matches its hash.
    pub fn push_links(&mut self, links: &[Link]) -> Result<(), Problem> {
        for l in links {
            self.step(l.seq, l.intact, &l.prev_hash, &l.hash)?;
        }
        Ok(())
    }

    fn step(&mut self, seq: i64, intact: bool, prev_hash: &str, hash: &str) -> Result<(), Problem> {
        if seq != self.expected {
            return Err(Problem::new(
                self.expected,
                "missing",
                format!(
                    "expected event {} but found event {seq}: an event was deleted, inserted or moved",
                    self.expected
                ),
            ));
        }
        if !intact {
            return Err(Problem::new(
                seq,
                "edited",
                format!("event {seq} does not match its hash: it was changed"),
            ));
        }
        if prev_hash != self.prev_hash {
            return Err(Problem::new(
                seq,
                "broken_link",
                format!(
                    "event {seq} does not follow event {}: an event was inserted, removed or reordered",
                    seq - 1
                ),
            ));
        }
        self.prev_hash.clear();
        self.prev_hash.push_str(hash);
        self.expected += 1;
        self.checked += 1;
        while let Some((count, head, number)) = self.anchors.get(self.next_anchor) {
            if *count != seq {
                break;
            }
            if head != hash {
                return Err(self.mismatch(*number, *count));
            }
            self.last_good_anchor = *count;
            self.next_anchor += 1;
        }
        Ok(())
    }

    fn mismatch(&self, number: i64, count: i64) -> Problem {
        Problem::new(
            self.last_good_anchor + 1,
            "checkpoint_mismatch",
            format!(
                "checkpoint {number} signed a different history for events {}..={count}: they were rewritten",
                self.last_good_anchor + 1
            ),
        )
    }

    /// Ends the check: a checkpoint beyond the last event means the log lost its tail.
    pub fn finish(&self) -> Result<(), Problem> {
        if let Some((count, _, number)) = self.anchors.get(self.next_anchor) {
            return Err(Problem::new(
                self.expected,
                "truncated",
                format!(
                    "checkpoint {number} covers {count} events but the log ends at event {}: the tail was removed",
                    self.expected - 1
                ),
            ));
        }
        Ok(())
    }
}

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
    let hash = hex(ctx.finish().as_ref());
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
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if events.len() < 2048 || threads < 2 {
        return encode(events);
    }
    let chunk = events.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = events
            .chunks(chunk)
            .map(|c| (c, s.spawn(move || encode(c))))
            .collect();
        let (mut out, mut links) = (Vec::new(), Vec::new());
        for (c, h) in handles {
            // A thread that failed leaves its events to the single-threaded path.
            let (bytes, l) = h.join().unwrap_or_else(|_| encode(c));
            out.extend_from_slice(&bytes);
            links.extend(l);
        }
        (out, links)
    })
}

/// Whether each event hashes to its stated hash; on two or more cores, large pages are
/// split across threads.
fn intact_flags(events: &[AuditEvent]) -> Vec<bool> {
    fn run(events: &[AuditEvent]) -> Vec<bool> {
        let mut buf = Vec::with_capacity(1024);
        events.iter().map(|e| intact(e, &mut buf)).collect()
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if events.len() < 2048 || threads < 2 {
        return run(events);
    }
    let chunk = events.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = events
            .chunks(chunk)
            .map(|c| (c.len(), s.spawn(move || run(c))))
            .collect();
        handles
            .into_iter()
            // A panic while hashing cannot vouch for anything.
            .flat_map(|(len, h)| h.join().unwrap_or_else(|_| vec![false; len]))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEvent, Origin};

    fn log(n: i64) -> Vec<AuditEvent> {
        let t0 = chrono::DateTime::from_timestamp_millis(1_780_000_000_000).unwrap_or_default();
        let (mut seq, mut prev) = (0, GENESIS.to_string());
        (0..n)
            .map(|i| {
                let mut e = AuditEvent::new("request.created", "alice", &Origin::default(), t0)
                    .details(serde_json::json!({ "i": i, "note": "a \"quoted\"\nline" }));
                link(&mut e, seq, &prev).unwrap();
                (seq, prev) = (e.seq, e.hash.clone());
                e
            })
            .collect()
    }

    fn first_problem(events: &[AuditEvent], anchors: Vec<(i64, String, i64)>) -> Option<Problem> {
        let mut v = ChainVerifier::new(1, GENESIS, anchors);
        v.push(events).and_then(|()| v.finish()).err()
    }

    #[test]
    fn an_intact_log_verifies_in_small_and_large_pages() {
        let events = log(5000);
        assert_eq!(first_problem(&events, Vec::new()), None);
        let mut v = ChainVerifier::new(1, GENESIS, Vec::new());
        for page in events.chunks(7) {
            v.push(page).unwrap();
        }
        assert_eq!(v.checked(), 5000);
    }

    #[test]
    fn each_kind_of_tampering_names_its_sequence_number() {
        let events = log(20);
        let mut edited = events.clone();
        edited[6].actor = "mallory".into();
        assert_eq!(
            first_problem(&edited, Vec::new()).map(|p| (p.seq, p.code)),
            Some((7, "edited".into()))
        );
        let mut deleted = events.clone();
        deleted.remove(6);
        assert_eq!(
            first_problem(&deleted, Vec::new()).map(|p| (p.seq, p.code)),
            Some((7, "missing".into()))
        );
        let mut swapped = events.clone();
        swapped.swap(6, 7);
        assert_eq!(first_problem(&swapped, Vec::new()).map(|p| p.seq), Some(7));
        // A rewritten history with fresh hashes still contradicts the checkpoint.
        let mut rewritten = events.clone();
        rewritten[9].actor = "mallory".into();
        let (mut seq, mut prev) = (9, rewritten[8].hash.clone());
        for e in &mut rewritten[9..] {
            link(e, seq, &prev).unwrap();
            (seq, prev) = (e.seq, e.hash.clone());
        }
        let anchors = vec![
            (5, events[4].hash.clone(), 1),
            (15, events[14].hash.clone(), 2),
        ];
        let p = first_problem(&rewritten, anchors.clone()).unwrap();
        assert_eq!((p.seq, p.code.as_str()), (6, "checkpoint_mismatch"));
        let p = first_problem(&events[..12], anchors).unwrap();
        assert_eq!((p.seq, p.code.as_str()), (13, "truncated"));
    }
}
