use crate::model::policy::rules::*;

#[test]
fn glob_matches_anywhere() {
    assert!(glob_match("aws:prod#admin", "aws:*"));
    assert!(glob_match("aws:prod#admin", "*#admin"));
    assert!(glob_match("aws:prod#admin", "*"));
    assert!(!glob_match("aws:prod#admin", "aws:staging*"));
    assert!(glob_match("db:events#readonly", "db:*#read*"));
    assert!(!glob_match("aws:prod", "aws:prod#*"));
}

#[tokio::test]
async fn an_explicit_deny_wins_and_is_named() {
    let rules = Rules::load(
        MODEL,
        "p, group:eng, *, request, allow\np, user:mallory@example.com, aws:*, request, deny\n",
    )
    .await
    .unwrap();
    let eng = vec!["eng".to_string()];
    let ok = rules.check("alice@example.com", &eng, "aws:prod#admin", Action::Request);
    assert!(ok.allowed);
    assert_eq!(ok.rules, vec!["p, group:eng, *, request, allow"]);
    let no = rules.check(
        "Mallory@example.com",
        &eng,
        "aws:prod#admin",
        Action::Request,
    );
    assert!(!no.allowed);
    assert_eq!(
        no.rules[0],
        "p, user:mallory@example.com, aws:*, request, deny"
    );
    assert!(
        !rules
            .check("alice@example.com", &eng, "aws:prod#admin", Action::Review)
            .allowed
    );
    assert!(
        !rules
            .check("alice@example.com", &[], "aws:prod#admin", Action::Request)
            .allowed
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// The direct evaluation and casbin's enforcer agree on every request.
    #[test]
    fn the_fast_path_agrees_with_casbin(
        lines in proptest::collection::vec((0usize..6, 0usize..6, 0usize..6, proptest::bool::ANY), 0..12),
        user in 0usize..3, groups in proptest::collection::vec(0usize..4, 0..3), obj in 0usize..5, act in 0usize..6,
    ) {
        const SUBJECTS: [&str; 6] = ["*", "group:eng", "group:sre", "user:alice@example.com", "group:e*", "user:bob@example.com"];
        const OBJECTS: [&str; 6] = ["*", "aws:*", "aws:prod#admin", "*#readonly", "db:events#*", "audit"];
        const ASKED: [&str; 5] = ["aws:prod#admin", "aws:prod#readonly", "db:events#write", "audit", "ssh:x#y"];
        let csv: String = lines
            .iter()
            .map(|(s, o, a, deny)| format!("p, {}, {}, {}, {}\n", SUBJECTS[*s], OBJECTS[*o], Action::ALL[*a].as_str(), if *deny { "deny" } else { "allow" }))
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let rules = rt.block_on(Rules::load(MODEL, &csv)).unwrap();
        let user = ["alice@example.com", "bob@example.com", "carol@example.com"][user];
        let groups: Vec<String> = groups.iter().map(|g| ["eng", "sre", "security", "eng-oncall"][*g].to_string()).collect();
        let action = Action::ALL[act];
        let fast = rules.check(user, &groups, ASKED[obj], action).allowed;
        let reference = rules.check_casbin(user, &groups, ASKED[obj], action);
        proptest::prop_assert_eq!(fast, reference, "{} {:?} {} {:?}\n{}", user, groups, ASKED[obj], action, csv);
    }
}

#[tokio::test]
async fn malformed_lines_are_refused_with_their_number() {
    let err = Rules::load(MODEL, "p, group:eng, *, fly, allow\n")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("line 1"));
    assert!(Rules::load("[request_definition]\nr = sub", "")
        .await
        .is_err());
}
