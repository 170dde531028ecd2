//! Every unmet term said at once; an explanation decided as if the terms were met.

use std::time::Duration;

use super::*;

const CATALOGUE: &str = r#"
[[resource]]
name = "aws:prod"
kind = "aws"
description = "prod"
[[resource.role]]
name = "admin"
default_duration = "30m"
max_duration = "2h"
reason_required = true
reason_pattern = ".{10,}"
ticket_required = true
ticket_pattern = "(INC|CHG)-[0-9]+"
breakglass = true
reviewers = { groups = ["sre"] }
[resource.role.aws]
role_arn = "arn:aws:iam::123456789012:role/admin"
"#;

const CSV: &str = "p, group:eng, aws:prod#*, request, allow\np, group:sre, *, review, allow\n";

async fn policy() -> Policy {
    Policy::from_texts(CATALOGUE, crate::model::policy::rules::MODEL, CSV)
        .await
        .unwrap()
}

fn ask(reason: Option<&str>, ticket: Option<&str>, duration: Option<u64>) -> Ask {
    Ask {
        resource: "aws:prod".into(),
        role: Some("admin".into()),
        duration: duration.map(Duration::from_secs),
        reason: reason.map(String::from),
        ticket: ticket.map(String::from),
        breakglass: false,
    }
}

const BOB: Who<'static> = Who {
    name: "bob@example.com",
    user_id: "bob",
    groups: &[],
};

fn eng() -> Vec<String> {
    vec!["eng".into()]
}

fn codes(d: &Decision) -> Vec<&str> {
    d.unmet.iter().map(|u| u.code).collect()
}

#[tokio::test]
async fn a_request_missing_everything_is_refused_for_all_of_it_at_once() {
    let p = policy().await;
    let groups = eng();
    let who = Who {
        groups: &groups,
        ..BOB
    };
    let d = decide(&p, &who, &ask(None, None, Some(4 * 3600)));
    assert_eq!(d.outcome, Outcome::Refused);
    // The first unmet term stays the code clients already match on.
    assert_eq!(d.code, Some("reason_required"));
    assert_eq!(
        codes(&d),
        ["reason_required", "ticket_required", "duration_too_long"]
    );
    assert_eq!(
        d.unmet.iter().map(|u| u.field).collect::<Vec<_>>(),
        ["reason", "ticket", "duration"]
    );
    let last = d.explanation.last().unwrap();
    assert!(
        last.contains("requires a reason (at least 10 characters)")
            && last.contains("requires a ticket (like INC-123 or CHG-123)")
            && last.contains("4h is more than the 2h allowed"),
        "{last}"
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("give a reason (at least 10 characters), a ticket (like INC-123 or CHG-123) and a duration of at most 2h")
    );
}

#[tokio::test]
async fn values_of_the_wrong_form_are_each_named() {
    let p = policy().await;
    let groups = eng();
    let who = Who {
        groups: &groups,
        ..BOB
    };
    let d = decide(&p, &who, &ask(Some("short"), Some("JIRA-1"), None));
    assert_eq!(d.code, Some("reason_mismatch"));
    assert_eq!(codes(&d), ["reason_mismatch", "ticket_mismatch"]);
    assert!(d.unmet[1].message.contains("\"JIRA-1\""), "{:?}", d.unmet);
    let ok = decide(
        &p,
        &who,
        &ask(Some("rotate the key now"), Some("INC-7"), None),
    );
    assert_eq!(ok.outcome, Outcome::NeedsReview);
    assert!(ok.unmet.is_empty());
}

#[tokio::test]
async fn explain_decides_as_if_the_terms_were_met_and_lists_them() {
    let p = policy().await;
    let groups = eng();
    let who = Who {
        groups: &groups,
        ..BOB
    };
    let bare = ask(None, None, None);
    let d = explain(&p, &who, &bare);
    assert_eq!(d.outcome, Outcome::NeedsReview);
    assert_eq!((d.code, d.approvals), (None, 1));
    assert_eq!(d.reviewers, "group:sre");
    assert_eq!(codes(&d), ["reason_required", "ticket_required"]);
    assert_eq!(
        d.unmet.iter().map(|u| u.need.as_str()).collect::<Vec<_>>(),
        [
            "a reason (at least 10 characters)",
            "a ticket (like INC-123 or CHG-123)"
        ]
    );
    // The same ask as a request is refused: an explanation never admits what decide refuses.
    assert_eq!(decide(&p, &who, &bare).outcome, Outcome::Refused);
    assert!(crate::model::policy::permit::request(&p, &who, &bare)
        .1
        .is_none());
    let long = explain(
        &p,
        &who,
        &ask(Some("rotate the key now"), Some("INC-7"), Some(9 * 3600)),
    );
    assert_eq!(long.outcome, Outcome::NeedsReview);
    assert_eq!(long.duration_secs, 2 * 3600);
    assert_eq!(codes(&long), ["duration_too_long"]);
}

#[tokio::test]
async fn explain_still_refuses_who_the_policy_does_not_let_ask_without_its_terms() {
    let p = policy().await;
    let d = explain(&p, &BOB, &ask(None, None, None));
    assert_eq!(d.code, Some("not_allowed"));
    // A role's requirements are not shown to someone who may not ask for it.
    assert!(d.unmet.is_empty());
}
