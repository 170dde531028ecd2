//! `POST /v1/credentials/ssh`, `/v1/ssh/ca` and `/v1/ssh/krl` over HTTP: what a
//! certificate says and how long it lives, bad input refused with nothing issued, the
//! audit record, and a revocation list that holds across restarts and CA rotation.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, revoke, TestApp};
use crate::ssh::revoked_per_openssh;
use crate::ssh_fixture::{keygen, SshFixture};

async fn grant(app: &TestApp, token: &str, role: &str, duration: &str) -> String {
    let v = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "ssh:test", "role": role, "duration": duration}),
            token,
            StatusCode::CREATED,
        )
        .await;
    v["request"]["id"].as_str().unwrap().to_string()
}

async fn ask(app: &TestApp, token: &str, public_key: &str, ttl: Option<&str>) -> reqwest::Response {
    app.post(
        "/v1/credentials/ssh",
        json!({"resource": "ssh:test", "public_key": public_key, "ttl": ttl}),
        Some(token),
    )
    .await
}

fn user_key(f: &SshFixture, name: &str) -> String {
    keygen(&f.path(name), "ed25519", None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_lives_within_its_grant_and_is_audited_without_any_secret() {
    let Some(f) = SshFixture::new() else { return };
    let app = f.broker(None).await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    let id = grant(&app, &alice, "shell", "30m").await;
    let public = user_key(&f, "alice");
    let resp = ask(&app, &alice, &public, None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let c: Value = resp.json().await.unwrap();
    let request: Value = app
        .get(&format!("/v1/requests/{id}"), Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let grant_end = request["expires_at"]
        .as_str()
        .or(request["request"]["expires_at"].as_str())
        .unwrap_or_else(|| panic!("{request}"));
    let end = chrono::DateTime::parse_from_rfc3339(grant_end).unwrap();
    let before = chrono::DateTime::parse_from_rfc3339(c["valid_before"].as_str().unwrap()).unwrap();
    let after = chrono::DateTime::parse_from_rfc3339(c["valid_after"].as_str().unwrap()).unwrap();
    assert!(before <= end, "{before} past the grant's end {end}");
    assert!(
        (end - before).num_seconds() < 5,
        "as long as the grant allows by default"
    );
    let skew = (chrono::Utc::now().fixed_offset() - after).num_seconds();
    assert!(
        (110..=130).contains(&skew),
        "back-dated two minutes, no more: {skew}s"
    );
    assert!(c["serial"].as_u64().unwrap() > 0);
    assert_eq!(c["principals"], json!([f.user, "ops"]));
    // Asked for less: that long.
    let c2: Value = ask(&app, &alice, &public, Some("10m"))
        .await
        .json()
        .await
        .unwrap();
    let b2 = chrono::DateTime::parse_from_rfc3339(c2["valid_before"].as_str().unwrap()).unwrap();
    assert!((b2 - chrono::Utc::now().fixed_offset()).num_seconds() <= 600);
    assert_ne!(c2["serial"], c["serial"], "a serial is never drawn twice");

    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(None, 0, 1000).await.unwrap();
    tx.commit().await.unwrap();
    let issued: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "credential.issued")
        .collect();
    assert_eq!(issued.len(), 2);
    let d = &issued[0].details;
    assert_eq!(d["kind"], "ssh");
    assert_eq!(d["serial"], c["serial"]);
    assert_eq!(d["fingerprint"], c["key_fingerprint"]);
    assert_eq!(d["principals"], c["principals"]);
    assert_eq!(d["key_id"], c["key_id"]);
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains(public.split_whitespace().nth(1).unwrap()),
        "no key material in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_odd_principals_and_too_long_a_validity_are_refused_and_nothing_is_issued() {
    let Some(f) = SshFixture::new() else { return };
    let app = f.broker(None).await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    grant(&app, &alice, "shell", "1h").await;
    let good = user_key(&f, "good");
    for (key, code) in [
        ("not a key".to_string(), "ssh_bad_public_key"),
        (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBad".to_string(),
            "ssh_bad_public_key",
        ),
        (keygen(&f.path("weak"), "rsa", Some("1024")), "ssh_weak_key"),
        (
            std::fs::read_to_string(f.path("good.pub"))
                .unwrap()
                .replace("ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com"),
            "ssh_key_is_certificate",
        ),
    ] {
        assert_error(
            ask(&app, &alice, &key, None).await,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
    let e = assert_error(
        ask(&app, &alice, &good, Some("2h")).await,
        StatusCode::BAD_REQUEST,
        "ssh_validity_exceeds_grant",
    )
    .await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("2h"),
        "{e}"
    );
    // A principal from the user that sshd could misread.
    let odd = app.dev_login("o+brien@example.com", &["eng"]).await;
    grant(&app, &odd, "email", "1h").await;
    assert_error(
        ask(&app, &odd, &good, None).await,
        StatusCode::BAD_REQUEST,
        "ssh_bad_principal",
    )
    .await;
    // A key that is fine, from someone without a grant.
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    assert_error(
        ask(&app, &bob, &good, None).await,
        StatusCode::FORBIDDEN,
        "no_active_grant",
    )
    .await;
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(None, 0, 1000).await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        events.iter().all(|e| e.kind != "credential.issued"),
        "nothing issued"
    );
    let krl = app.get("/v1/ssh/krl", None).await.bytes().await.unwrap();
    assert_eq!(&krl[..8], b"SSHKRL\n\0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revocation_list_holds_across_restarts_and_ca_rotation() {
    let Some(mut f) = SshFixture::new() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let app = f.broker(Some(data.path().to_path_buf())).await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    let dave = app.dev_login("dave@example.com", &["eng"]).await;
    let a_id = grant(&app, &alice, "shell", "1h").await;
    grant(&app, &dave, "shell", "1h").await;
    let mut certs = std::collections::BTreeMap::new();
    for (who, token) in [("alice", &alice), ("dave", &dave)] {
        let public = user_key(&f, who);
        let c: Value = ask(&app, token, &public, None).await.json().await.unwrap();
        std::fs::write(
            f.path(&format!("{who}-cert.pub")),
            c["certificate"].as_str().unwrap(),
        )
        .unwrap();
        certs.insert(who, c);
    }
    revoke(&app, &alice, &a_id).await;
    f.fetch_krl(&app).await;
    assert!(revoked_per_openssh(
        &f.path("revoked.krl"),
        &f.path("alice-cert.pub")
    ));
    assert!(!revoked_per_openssh(
        &f.path("revoked.krl"),
        &f.path("dave-cert.pub")
    ));
    // Unchanged content, unchanged list: the same ETag, and 304 for it.
    let first = app.get("/v1/ssh/krl", None).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(first.headers()["content-type"], "application/octet-stream");
    let again = app
        .http
        .get(format!("{}/v1/ssh/krl", app.url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    app.stop().await.unwrap();

    let app = f.broker(Some(data.path().to_path_buf())).await;
    f.fetch_krl(&app).await;
    assert!(
        revoked_per_openssh(&f.path("revoked.krl"), &f.path("alice-cert.pub")),
        "after a restart"
    );
    let admin = app.dev_login("root@example.com", &["admin"]).await;
    let keys = app
        .post_ok("/v1/admin/ssh/ca/rotate", json!({}), &admin, StatusCode::OK)
        .await;
    assert_eq!(keys.as_array().unwrap().len(), 2, "{keys}");
    assert_eq!(keys[0]["active"], true);
    assert_eq!(keys[1]["fingerprint"], certs["dave"]["ca_fingerprint"]);
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let b_id = grant(&app, &bob, "shell", "1h").await;
    let c: Value = ask(&app, &bob, &user_key(&f, "bob"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["ca_fingerprint"], keys[0]["fingerprint"]);
    std::fs::write(f.path("bob-cert.pub"), c["certificate"].as_str().unwrap()).unwrap();
    // sshd trusts both CAs during the overlap: the new one's and the old one's certificates log in.
    f.start(&app).await;
    for who in ["bob", "dave"] {
        let (code, err) = f.ssh_with(&f.path(who), &f.path(&format!("{who}-cert.pub")), &f.user);
        assert_eq!(code, Some(0), "{who}: {err}\n{}", f.log());
    }
    revoke(&app, &bob, &b_id).await;
    f.fetch_krl(&app).await;
    for (who, revoked) in [("alice", true), ("bob", true), ("dave", false)] {
        assert_eq!(
            revoked_per_openssh(&f.path("revoked.krl"), &f.path(&format!("{who}-cert.pub"))),
            revoked,
            "{who}"
        );
    }
    assert_eq!(
        f.ssh_with(&f.path("bob"), &f.path("bob-cert.pub"), &f.user)
            .0,
        Some(255)
    );
    let ca = app.get("/v1/ssh/ca", None).await.text().await.unwrap();
    assert_eq!(ca.lines().count(), 2, "{ca}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_whose_grant_is_revoked_while_it_is_signed_is_discarded_and_listed_as_revoked(
) {
    let Some(f) = SshFixture::new() else { return };
    let app = f.broker(None).await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    let id = grant(&app, &alice, "shell", "1h").await;
    let public = user_key(&f, "alice");
    let stall = crate::issuance_races::Stall::new();
    app.broker.core.in_flight.set(Some(stall.pause("ssh")));
    let asked = {
        let (url, token, public) = (app.url.clone(), alice.clone(), public.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{url}/v1/credentials/ssh"))
                .bearer_auth(token)
                .json(&json!({"resource": "ssh:test", "public_key": public}))
                .send()
                .await
                .unwrap()
        })
    };
    // Signed, held just before the hand-out's re-check; the revocation lands then.
    stall.entered(1).await;
    revoke(&app, &alice, &id).await;
    stall.release();
    assert_error(
        asked.await.unwrap(),
        StatusCode::FORBIDDEN,
        "no_active_grant",
    )
    .await;
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(None, 0, 1000).await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        events.iter().all(|e| e.kind != "credential.issued"),
        "nothing handed out"
    );
    let discarded = events
        .iter()
        .find(|e| e.kind == "credential.discarded")
        .expect("audited as discarded");
    assert_eq!(discarded.details["kind"], "ssh");
    assert_eq!(discarded.details["reason"], "grant_revoked");
    let serial = discarded.details["serial"].as_u64().unwrap();
    // The certificate never left the broker, and the list names it all the same.
    let krl = app.get("/v1/ssh/krl", None).await;
    assert_eq!(krl.headers()["x-latchkey-krl-serials"], "1");
    assert!(serial > 0);
}
