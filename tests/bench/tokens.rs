//! Offline verification of broker tokens on one core: `cargo bench --bench tokens`.
//! Target: at least 20,000 verifications per second (EdDSA and ES256).

use std::time::{Duration, Instant};

use chrono::Utc;
use jsonwebtoken::jwk::JwkSet;
use latchkey::adapters::keys::Keyring;
use latchkey::adapters::providers::token::{mint, OfflineVerifier};
use latchkey::model::access::{AccessRequest, NewRequest, Start, Terms};
use latchkey::model::policy::Policy;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc::now();
    let keyring = Keyring::load_or_create(dir.path(), now).expect("keys");
    let jwks: JwkSet = serde_json::from_value(keyring.jwks(now)).expect("jwks");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let policy = rt
        .block_on(Policy::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
        ))
        .expect("policy");
    let terms = Terms {
        approvals: 1,
        denials: 1,
        activation_window: Duration::from_secs(60),
        max_duration: Duration::from_secs(3600),
        max_extensions: 0,
        extension: Duration::from_secs(60),
    };
    for name in ["token:metrics-api", "token:billing-api"] {
        let resource = &policy.catalogue.resources[name];
        let grant = AccessRequest::create(
            NewRequest {
                id: "g1".into(),
                requester_id: "dev|bob@example.com".into(),
                requester_name: "bob@example.com".into(),
                resource: name.into(),
                role: "read".into(),
                reason: None,
                ticket: None,
                duration: Duration::from_secs(3600),
                pending_timeout: Duration::from_secs(60),
                terms: terms.clone(),
            },
            Start::AutoApproved,
            now,
        );
        let (token, _) = mint(
            &keyring,
            "https://latchkey.example.com",
            resource,
            &grant,
            None,
            now,
            now + chrono::Duration::minutes(10),
        )
        .expect("mint");
        let verifier =
            OfflineVerifier::new(&jwks, "https://latchkey.example.com", &resource.audience);
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(2) {
            for _ in 0..100 {
                std::hint::black_box(verifier.verify(&token).expect("valid"));
            }
            n += 100;
        }
        let per_sec = n as f64 / start.elapsed().as_secs_f64();
        println!(
            "verify broker token offline ({:?}), one core: {per_sec:>9.0} per second",
            resource.token_algorithm
        );
    }
}
