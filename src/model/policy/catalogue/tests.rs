use crate::model::policy::catalogue::*;

const MIN: &str = r#"
[[resource]]
name = "aws:prod"
kind = "aws"
description = "prod"
[[resource.role]]
name = "readonly"
default_duration = "1h"
max_duration = "4h"
reason_pattern = ".{5,}"
[resource.role.aws]
role_arn = "arn:aws:iam::123456789012:role/ro"
"#;

#[test]
fn reads_a_role_with_defaults() {
    let c = Catalogue::parse(MIN).unwrap();
    let (_, role) = c.role("aws:prod", "readonly").unwrap();
    assert_eq!(role.pending_timeout, Duration::from_secs(3600));
    assert_eq!((role.approvals, role.denials), (1, 1));
    assert!(role
        .reason_pattern
        .as_ref()
        .unwrap()
        .is_match("hello world"));
    assert!(!role.reason_pattern.as_ref().unwrap().is_match("hi"));
}

#[test]
fn refuses_inconsistent_roles_and_unknown_fields() {
    assert!(
        Catalogue::parse(&MIN.replace("max_duration = \"4h\"", "max_duration = \"30m\"")).is_err()
    );
    assert!(Catalogue::parse(&MIN.replace("kind = \"aws\"", "kind = \"ftp\"")).is_err());
    assert!(Catalogue::parse(&format!("{MIN}\nsurprise = 1")).is_err());
    assert!(Catalogue::parse(&MIN.replace(".{5,}", "(")).is_err());
    let no_aws = MIN.split("[resource.role.aws]").next().unwrap();
    assert!(Catalogue::parse(no_aws)
        .unwrap_err()
        .0
        .contains("needs [resource.role.aws]"));
    assert!(
        Catalogue::parse(&MIN.replace("kind = \"aws\"", "kind = \"db\""))
            .unwrap_err()
            .0
            .contains("aws resources only")
    );
}

#[test]
fn a_role_describes_its_reason_and_ticket_in_words() {
    let c = Catalogue::parse(MIN).unwrap();
    let (_, role) = c.role("aws:prod", "readonly").unwrap();
    assert_eq!(role.reason_form().unwrap(), "at least 5 characters");
    assert_eq!(role.ticket_form(), None);
    let hinted = MIN.replace(
        "reason_pattern = \".{5,}\"",
        "reason_pattern = \".{5,}\"\nticket_pattern = \"[A-Z]+-[0-9]+\"\nticket_hint = \"a Jira key, like OPS-42\"",
    );
    let c = Catalogue::parse(&hinted).unwrap();
    let (_, role) = c.role("aws:prod", "readonly").unwrap();
    assert_eq!(role.ticket_form().unwrap(), "a Jira key, like OPS-42");
}

#[test]
fn refuses_a_hint_that_is_empty_or_not_one_line() {
    for bad in [
        "\"\"",
        "\"two\\nlines\"",
        &format!("\"{}\"", "x".repeat(121)),
    ] {
        let text = MIN.replace(
            "reason_pattern = \".{5,}\"",
            &format!("reason_pattern = \".{{5,}}\"\nreason_hint = {bad}"),
        );
        assert!(
            Catalogue::parse(&text)
                .unwrap_err()
                .0
                .contains("reason_hint must be one line"),
            "{bad}"
        );
    }
}
