//! A grant that ends before the shortest AWS session is told what may help, within what its
//! terms allow: an extension no longer than the role's, and none once they are used up.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, Options};

/// The example policy with `aws:staging#admin` allowed one extension of at most 30m.
fn one_short_extension() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for f in ["model.conf", "policy.csv"] {
        std::fs::copy(example.join(f), dir.path().join(f)).unwrap();
    }
    let catalogue = std::fs::read_to_string(example.join("catalogue.toml")).unwrap();
    let staging = "max_extensions = 3\nextension = \"2h\"";
    assert!(catalogue.contains(staging));
    std::fs::write(
        dir.path().join("catalogue.toml"),
        catalogue.replace(staging, "max_extensions = 1\nextension = \"30m\""),
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn the_ending_soon_hint_suggests_only_the_extension_the_role_allows() {
    let policy = one_short_extension();
    let app = spawn_app(Options {
        dev: true,
        policy_dir: Some(policy.path().to_path_buf()),
        ..Options::default()
    })
    .await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let v = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin", "duration": "10m"}),
            &bob,
            StatusCode::CREATED,
        )
        .await;
    let id = v["request"]["id"].as_str().unwrap().to_string();
    let creds = || async {
        assert_error(
            app.post(
                "/v1/credentials/aws",
                json!({"resource": "aws:staging"}),
                Some(&bob),
            )
            .await,
            StatusCode::CONFLICT,
            "grant_ending_soon",
        )
        .await["error"]["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = creds().await;
    assert!(
        first.contains(&format!("latchkey extend {id} --for 30m")),
        "{first}"
    );
    // The one extension, too short to reach STS's minimum: none is left to suggest.
    app.post_ok(
        &format!("/v1/requests/{id}/extend"),
        json!({"duration": "1m"}),
        &bob,
        StatusCode::OK,
    )
    .await;
    let second = creds().await;
    assert!(
        !second.contains("latchkey extend")
            && second.contains("request it again: latchkey request aws:staging --role admin"),
        "{second}"
    );
}

/// `GET /v1/resources` says what a request must carry, in words, before anyone submits
/// one: a required reason and ticket and their forms (not the raw patterns).
#[tokio::test]
async fn resources_name_the_reason_and_ticket_a_role_needs_in_words() {
    let app = crate::helpers::spawn_dev_app().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let resources: serde_json::Value = app
        .get("/v1/resources", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    let role = |resource: &str, role: &str| {
        resources
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == resource)
            .and_then(|r| {
                r["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| x["role"] == role)
            })
            .cloned()
            .unwrap_or_else(|| panic!("{resource}#{role} in {resources}"))
    };
    let admin = role("aws:prod", "admin");
    assert_eq!(
        (
            admin["reason_required"].clone(),
            admin["ticket_required"].clone()
        ),
        (serde_json::json!(true), serde_json::json!(true))
    );
    assert_eq!(admin["reason_form"], "at least 10 characters", "{admin}");
    assert_eq!(admin["ticket_form"], "like INC-123 or CHG-123", "{admin}");
    assert!(
        !admin.to_string().contains("[0-9]"),
        "no raw pattern: {admin}"
    );
    let staging = role("aws:staging", "admin");
    assert_eq!(staging["ticket_required"], false);
    assert!(staging.get("reason_form").is_none(), "{staging}");
}
