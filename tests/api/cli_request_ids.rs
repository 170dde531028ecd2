//! The CLI as a user runs it: short ids in lists, verbs without an id when only one
//! request can be meant (and the candidates when several can), `requests --all`.

use crate::cli_and_config::{dev_server, latchkey, outcome};

#[test]
fn the_cli_takes_short_ids_implies_the_obvious_request_and_lists_all_for_an_administrator() {
    let dir = tempfile::tempdir().unwrap();
    let (url, mut server) = dev_server(
        dir.path(),
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/policies")),
    );
    let home = |who: &str| dir.path().join(who);
    let run = |who: &str, args: &[&str]| outcome(latchkey(&home(who)).args(args));
    for (who, email, groups) in [
        ("bob", "bob@example.com", "eng"),
        ("carol", "carol@example.com", "sre"),
        ("root", "root@example.com", "security"),
    ] {
        let (code, out, err) = run(
            who,
            &[
                "login", "--server", &url, "--dev", email, "--groups", groups,
            ],
        );
        assert_eq!(code, Some(0), "{out}{err}");
    }
    // Nothing to activate yet: say so, and how to name one.
    let (code, _, err) = run("bob", &["activate"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("you have no approved request to activate"),
        "{err}"
    );
    let ask = [
        "request",
        "db:events",
        "--role",
        "write",
        "--reason",
        "fix INC-42",
    ];
    assert_eq!(run("bob", &ask).0, Some(0));
    // The one request waiting for carol's review: approved without naming it.
    let (code, out, err) = run("carol", &["approve"]);
    assert_eq!(code, Some(0), "{out}{err}");
    // Listed by its short id, which the verbs take.
    let (code, out, _) = run("bob", &["requests"]);
    assert_eq!(code, Some(0));
    let short = out.split_whitespace().next().unwrap().to_string();
    assert_eq!(short.len(), 8, "{out}");
    let (code, out, err) = run("bob", &["activate"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with(&short) && out.contains("active"), "{out}");
    // A second live grant: revoke without an id is no longer obvious.
    assert_eq!(
        run(
            "bob",
            &[
                "request",
                "aws:staging",
                "--role",
                "admin",
                "--reason",
                "deploy"
            ]
        )
        .0,
        Some(0)
    );
    let (code, _, err) = run("bob", &["revoke"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("name one: latchkey revoke ID")
            && err.contains(&short)
            && err.contains("db:events#write  active"),
        "{err}"
    );
    // A plain user may not list everyone's; exit 4.
    let (code, _, err) = run("bob", &["requests", "--all"]);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("view_all_forbidden"), "{err}");
    // The administrator finds bob's grant and revokes it by its short id.
    let (code, out, err) = run(
        "root",
        &[
            "requests",
            "--all",
            "--user",
            "bob@example.com",
            "--resource",
            "db:events",
            "--active",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with(&short), "{out}");
    let (code, out, err) = run("root", &["revoke", &short]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("revoked"), "{out}");
    let (_, out, _) = run("root", &["requests", "--all", "--state", "active"]);
    assert!(
        !out.contains(&short) && out.contains("aws:staging#admin"),
        "{out}"
    );
    let _ = server.kill();
    let _ = server.wait();
}
