//! The inline deny policy that makes AWS refuse a revoked grant's sessions, or a locked
//! user's: one document per IAM role, built from the entries the broker keeps for it. No
//! I/O here; time is passed in.
//!
//! A grant's sessions carry the session tag `latchkey:request` = the grant id, so one
//! statement denies every revoked grant at once (`aws:PrincipalTag/latchkey:request` in a
//! list). A locked user's sessions are denied by their SourceIdentity, for sessions issued
//! before the lock (`aws:TokenIssueTime`), so that they work again once unlocked.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// The inline policy's name on every role the broker denies sessions of.
pub const POLICY_NAME: &str = "latchkey-revocations";
pub use crate::config::providers::ROLE_POLICY_LIMIT;
/// The condition key of the broker's session tag.
pub const REQUEST_TAG: &str = "aws:PrincipalTag/latchkey:request";

/// What one entry denies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every session tagged with this grant id.
    Request(String),
    /// Every session with this SourceIdentity issued before the time.
    Identity {
        /// SourceIdentity.
        source_identity: String,
        /// Sessions issued before this are denied.
        issued_before: DateTime<Utc>,
    },
}

/// One entry of a role's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's id in the store.
    pub id: i64,
    /// What it denies.
    pub target: Target,
    /// Already in a policy IAM accepted: kept before any pending entry.
    pub written: bool,
}

/// A role's document, and the entries it holds or could not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The policy, compact; `None` when no entry is left (the policy is deleted).
    pub document: Option<String>,
    /// Its size as IAM counts it.
    pub size: usize,
    /// Ids of the entries in it.
    pub included: Vec<i64>,
    /// Ids of the entries that did not fit within the budget.
    pub left_out: Vec<i64>,
}

/// The size IAM counts: every character except whitespace.
pub fn iam_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// `aws:TokenIssueTime` is compared to the second: round the lock up, so a session issued
/// in the lock's own second is denied too.
fn issue_time(t: DateTime<Utc>) -> String {
    let up = if t.timestamp_subsec_nanos() > 0 {
        t + chrono::Duration::seconds(1)
    } else {
        t
    };
    DateTime::<Utc>::from_timestamp(up.timestamp(), 0)
        .unwrap_or(up)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn deny(sid: String, condition: Value) -> Value {
    json!({"Sid": sid, "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition})
}

/// The document holding exactly `entries` (none: `None`).
pub fn document(entries: &[&Entry]) -> Option<String> {
    if entries.is_empty() {
        return None;
    }
    let mut requests = Vec::new();
    // Identities grouped by lock time: one statement per lock moment.
    let mut identities: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for e in entries {
        match &e.target {
            Target::Request(id) => requests.push(id.as_str()),
            Target::Identity {
                source_identity,
                issued_before,
            } => identities
                .entry(issue_time(*issued_before))
                .or_default()
                .push(source_identity),
        }
    }
    let mut statements = Vec::new();
    if !requests.is_empty() {
        statements.push(deny(
            "LatchkeyRevokedGrants".into(),
            json!({"StringEquals": {REQUEST_TAG: requests}}),
        ));
    }
    for (n, (before, ids)) in identities.into_iter().enumerate() {
        statements.push(deny(
            format!("LatchkeyLockedUsers{n}"),
            json!({"StringEquals": {"aws:SourceIdentity": ids}, "DateLessThan": {"aws:TokenIssueTime": before}}),
        ));
    }
    Some(json!({"Version": "2012-10-17", "Statement": statements}).to_string())
}

/// The role's document within `budget` characters: entries already written first (a
/// session denied stays denied while it can live), then pending locks, then pending
/// grants, oldest first. What does not fit is left out, to be tried again when older
/// entries expire.
pub fn render(entries: &[Entry], budget: usize) -> Rendered {
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_by_key(|e| (!e.written, matches!(e.target, Target::Request(_)), e.id));
    let fits = |n: usize| document(&order[..n]).is_none_or(|d| iam_size(&d) <= budget);
    // Sizes grow with the prefix: the longest prefix that fits, by bisection.
    let (mut lo, mut hi) = (0, order.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let document = document(&order[..lo]);
    Rendered {
        size: document.as_deref().map(iam_size).unwrap_or(0),
        document,
        included: order[..lo].iter().map(|e| e.id).collect(),
        left_out: order[lo..].iter().map(|e| e.id).collect(),
    }
}

/// Whether two documents say the same (IAM may hand back another spacing or key order).
pub fn same(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: i64, written: bool) -> Entry {
        Entry {
            id,
            target: Target::Request(format!("{:08x}-0000-4000-8000-{:012x}", id, id)),
            written,
        }
    }

    fn locked(id: i64, who: &str, at: &str) -> Entry {
        Entry {
            id,
            target: Target::Identity {
                source_identity: who.into(),
                issued_before: at.parse().unwrap(),
            },
            written: false,
        }
    }

    #[test]
    fn a_revoked_grant_is_denied_by_its_session_tag_and_a_lock_by_identity_and_issue_time() {
        let r = render(
            &[
                request(1, false),
                locked(2, "bob@example.com", "2026-12-02T04:00:00.250Z"),
            ],
            ROLE_POLICY_LIMIT,
        );
        let doc: Value = serde_json::from_str(r.document.as_deref().unwrap()).unwrap();
        let s = doc["Statement"].as_array().unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0]["Effect"], "Deny");
        assert_eq!(s[0]["Action"], "*");
        assert_eq!(
            s[0]["Condition"]["StringEquals"][REQUEST_TAG],
            json!(["00000001-0000-4000-8000-000000000001"])
        );
        assert_eq!(
            s[1]["Condition"]["StringEquals"]["aws:SourceIdentity"],
            json!(["bob@example.com"])
        );
        // Rounded up: a session issued at 04:00:00.900 is still before the deny's bound.
        assert_eq!(
            s[1]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-12-02T04:00:01Z"
        );
        assert_eq!(r.included, vec![2, 1], "the lock first");
        assert!(r.left_out.is_empty());
    }

    #[test]
    fn no_entry_left_means_no_policy() {
        let r = render(&[], ROLE_POLICY_LIMIT);
        assert_eq!(r.document, None);
        assert_eq!(r.size, 0);
    }

    #[test]
    fn many_revocations_stay_within_the_limit_and_written_entries_are_never_dropped() {
        let mut entries: Vec<Entry> = (1..=200).map(|i| request(i, false)).collect();
        // Written ones, newer ids: still kept before any pending entry.
        entries.extend((1000..1100).map(|i| request(i, true)));
        let r = render(&entries, ROLE_POLICY_LIMIT);
        assert!(r.size <= ROLE_POLICY_LIMIT, "{}", r.size);
        assert!(!r.left_out.is_empty(), "300 grants do not fit");
        for i in 1000..1100 {
            assert!(r.included.contains(&i), "written entry {i} kept");
        }
        // Nothing more would fit: the next left-out entry would cross the limit.
        let mut more: Vec<&Entry> = entries
            .iter()
            .filter(|e| r.included.contains(&e.id))
            .collect();
        let next = entries.iter().find(|e| e.id == r.left_out[0]).unwrap();
        more.push(next);
        assert!(iam_size(&document(&more).unwrap()) > ROLE_POLICY_LIMIT);
        // Oldest pending first.
        assert_eq!(r.left_out[0], 1 + (r.included.len() as i64 - 100));
    }

    #[test]
    fn whitespace_is_not_counted_and_documents_compare_by_meaning() {
        assert_eq!(iam_size("{ \"a\" :\n 1 }"), 7);
        assert!(same(
            r#"{"a":[1,2],"b":"x"}"#,
            "{ \"b\": \"x\", \"a\": [1, 2] }"
        ));
        assert!(!same(r#"{"a":[1,2]}"#, r#"{"a":[2,1]}"#));
    }
}
