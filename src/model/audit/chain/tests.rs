//! Unit tests of the chain verifier: each kind of tampering names its sequence number.

use crate::model::audit::chain::*;
use crate::model::audit::{AuditEvent, EventKind, Origin};

fn log(n: i64) -> Vec<AuditEvent> {
    let t0 = chrono::DateTime::from_timestamp_millis(1_780_000_000_000).unwrap_or_default();
    let (mut seq, mut prev) = (0, GENESIS.to_string());
    (0..n)
        .map(|i| {
            let mut e = AuditEvent::new(EventKind::RequestCreated, "alice", &Origin::default(), t0)
                .unwrap()
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

fn all_problems(events: &[AuditEvent], anchors: Vec<(i64, String, i64)>) -> Vec<Problem> {
    let mut v = ChainVerifier::new(1, GENESIS, anchors);
    let mut problems = Vec::new();
    v.push_all(events, &mut problems, 100);
    problems.extend(v.finish().err());
    problems
}

fn ranges(problems: &[Problem]) -> Vec<(i64, Option<i64>, bool, &str)> {
    problems
        .iter()
        .map(|p| (p.seq, p.through, p.exact, p.code.as_str()))
        .collect()
}

#[test]
fn going_on_past_each_problem_reports_every_range_in_doubt_and_no_more() {
    let events = log(30);
    // An edit, and two deletions further on: three ranges, each exact.
    let mut tampered = events.clone();
    tampered[4].actor = "mallory".into();
    tampered.drain(19..22);
    assert_eq!(
        ranges(&all_problems(&tampered, Vec::new())),
        vec![
            (5, Some(5), true, "edited"),
            (20, Some(22), true, "missing")
        ]
    );
    // A swap: exactly the two events, not the one after them.
    let mut swapped = events.clone();
    swapped.swap(9, 10);
    for (i, e) in swapped.iter_mut().enumerate() {
        e.seq = i as i64 + 1;
    }
    assert_eq!(
        ranges(&all_problems(&swapped, Vec::new())),
        vec![
            (10, Some(10), true, "edited"),
            (11, Some(11), true, "edited")
        ]
    );
    // A rewrite with fresh hashes: bounded by the checkpoints around it, not pinned.
    let mut rewritten = events.clone();
    rewritten[12].actor = "mallory".into();
    let (mut seq, mut prev) = (12, rewritten[11].hash.clone());
    for e in &mut rewritten[12..] {
        link(e, seq, &prev).unwrap();
        (seq, prev) = (e.seq, e.hash.clone());
    }
    let anchors = vec![
        (10, events[9].hash.clone(), 1),
        (20, events[19].hash.clone(), 2),
        (30, events[29].hash.clone(), 3),
    ];
    assert_eq!(
        ranges(&all_problems(&rewritten, anchors.clone())),
        vec![
            (11, Some(20), false, "checkpoint_mismatch"),
            (21, Some(30), false, "checkpoint_mismatch")
        ]
    );
    // A tail cut past two checkpoints: from the first missing event to the furthest one.
    assert_eq!(
        ranges(&all_problems(&events[..15], anchors)),
        vec![(16, Some(30), true, "truncated")]
    );
}
