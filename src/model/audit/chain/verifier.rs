//! Checking a run of events against the chain: each links to the one before it and is
//! what its hash says, and the checkpoints' counts and heads agree.

use crate::model::audit::chain::hash::intact;
use crate::model::audit::problem::Problem;
use crate::model::audit::AuditEvent;

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
    /// Starts after event `start_seq - 1`, whose hash is `prev_hash` ([`GENESIS`](crate::model::audit::chain::GENESIS) at 1).
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
