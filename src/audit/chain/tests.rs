//! Unit tests of the chain verifier: each kind of tampering names its sequence number.

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
