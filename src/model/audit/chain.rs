//! The hash chain: each event carries the hash of the one before it, so an edit, a
//! deletion, an insertion or a reordering breaks the chain at that event.
//!
//! `hash = lowercase hex of SHA-256("latchkey.audit.v1\n" || JCS(event without "hash"))`,
//! where the event is the JSON object of `events.jsonl` (see [`write_event`]) and JCS is
//! the canonical form of [`crate::model::audit::canonical`]. The first event's `prev_hash` is
//! [`GENESIS`]. The README gives the same rule for writers of other verifiers.

use crate::model::audit::canonical::{write_int, write_str, write_value, NotCanonical};
pub use crate::model::audit::problem::Problem;
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
fn intact(e: &AuditEvent, buf: &mut Vec<u8>) -> bool {
    hash_into(e, buf).is_ok_and(|h| h.as_slice() == e.hash.as_bytes())
}

/// Gives `e` its place after `(prev_seq, prev_hash)` and its own hash.
pub fn link(e: &mut AuditEvent, prev_seq: i64, prev_hash: &str) -> Result<(), NotCanonical> {
    e.seq = prev_seq + 1;
    e.prev_hash = prev_hash.to_string();
    e.hash = event_hash(e)?;
    Ok(())
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
    /// In [`ChainVerifier::push_all`]: whether the event just checked was in doubt.
    prev_bad: bool,
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
            prev_bad: false,
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
            let p = Problem::new(
                self.expected,
                "missing",
                format!(
                    "expected event {} but found event {seq}: an event was deleted, inserted or moved",
                    self.expected
                ),
            );
            return Err(if seq > self.expected {
                p.through(seq - 1).exact()
            } else {
                p
            });
        }
        if !intact {
            return Err(Problem::new(
                seq,
                "edited",
                format!("event {seq} does not match its hash: it was changed"),
            )
            .through(seq)
            .exact());
        }
        if prev_hash != self.prev_hash {
            // Either this event or the one before was rewritten: both are in doubt.
            return Err(Problem::new(
                (seq - 1).max(1),
                "broken_link",
                format!(
                    "event {seq} does not follow event {}: an event was inserted, removed or reordered",
                    seq - 1
                ),
            )
            .through(seq));
        }
        self.advance(seq, hash)
    }

    /// Takes `hash` as event `seq`'s and checks the checkpoints that end there.
    fn advance(&mut self, seq: i64, hash: &str) -> Result<(), Problem> {
        self.prev_hash.clear();
        self.prev_hash.push_str(hash);
        self.expected = self.expected.max(seq + 1);
        self.checked += 1;
        while let Some((count, head, number)) = self.anchors.get(self.next_anchor) {
            if *count > seq {
                break;
            }
            self.next_anchor += 1;
            // Skipped over by a gap: it covers removed events, already reported.
            if *count < seq {
                continue;
            }
            if head != hash {
                let (number, count) = (*number, *count);
                let problem = self.mismatch(number, count);
                // A later mismatch is in doubt only from here on.
                self.last_good_anchor = count;
                return Err(problem);
            }
            self.last_good_anchor = *count;
        }
        Ok(())
    }

    /// Like [`Self::push`], but goes on past each problem to find the next one, so every
    /// range in doubt is reported (at most `max` problems). Past a gap the next event is
    /// checked on its own; past an edited or misplaced event the chain resumes from its
    /// stated hash, and a link to an event already in doubt adds nothing.
    pub fn push_all(&mut self, events: &[AuditEvent], problems: &mut Vec<Problem>, max: usize) {
        for (e, intact) in events.iter().zip(intact_flags(events)) {
            if problems.len() >= max {
                return;
            }
            let mut result = self.step(e.seq, intact, &e.prev_hash, &e.hash);
            if let Err(p) = &result {
                if p.code == "missing" && e.seq > self.expected {
                    problems.push(p.clone());
                    self.expected = e.seq;
                    self.prev_hash.clone_from(&e.prev_hash);
                    result = self.step(e.seq, intact, &e.prev_hash, &e.hash);
                }
            }
            match result {
                Ok(()) => self.prev_bad = false,
                Err(p) => {
                    let absorbed = p.code == "broken_link" && self.prev_bad;
                    let tail_ok = p.code == "checkpoint_mismatch";
                    if !absorbed {
                        problems.push(p);
                    }
                    if !tail_ok {
                        let _ = self.advance(e.seq, &e.hash);
                        self.prev_bad = !absorbed;
                    }
                }
            }
        }
    }

    fn mismatch(&self, number: i64, count: i64) -> Problem {
        let from = self.last_good_anchor + 1;
        Problem::new(
            from,
            "checkpoint_mismatch",
            format!(
                "events {from}-{count} were rewritten: {} event {count} with another hash than the stored one",
                anchor_name(number)
            ),
        )
        .through(count)
    }

    /// Ends the check: a checkpoint beyond the last event means the log lost its tail.
    pub fn finish(&self) -> Result<(), Problem> {
        // The furthest checkpoint beyond the end bounds what was removed.
        let beyond = self.anchors.get(self.next_anchor..).unwrap_or_default();
        if let Some((count, head, number)) = beyond.iter().max_by_key(|a| a.0) {
            let (count, number) = (*count, *number);
            return Err(Problem::new(
                self.expected,
                "truncated",
                format!(
                    "events {}-{count} were removed: {} event {count} with hash {head}, but the log ends at event {}",
                    self.expected,
                    anchor_name(number),
                    self.expected - 1
                ),
            )
            .through(count)
            .exact());
        }
        Ok(())
    }
}

/// Number 0 names the running broker's own record of the last event it appended.
fn anchor_name(number: i64) -> String {
    if number == 0 {
        "the running broker appended".to_string()
    } else {
        format!("checkpoint {number} covers")
    }
}

/// Whether each event hashes to its stated hash, large pages split across cores.
fn intact_flags(events: &[AuditEvent]) -> Vec<bool> {
    crate::model::audit::par::chunks(events, |chunk| {
        let mut buf = Vec::with_capacity(1024);
        chunk.iter().map(|e| intact(e, &mut buf)).collect()
    })
}

#[cfg(test)]
mod tests;
