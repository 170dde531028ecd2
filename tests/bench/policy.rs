//! Policy decision speed, in process: `cargo bench --bench policy`.
//! Prints the median and p99 of one decision with the example policy and with a large
//! generated one (10,000 resources x 5 roles, 1,000 policy lines).
//! Targets: median <= 20 us (example), <= 200 us (large).

use std::fmt::Write;
use std::time::Instant;

use latchkey::model::policy::decide::{decide, Ask, Who};
use latchkey::model::policy::Policy;

fn measure(name: &str, iterations: usize, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let mut samples: Vec<f64> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let median = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    println!("{name:<58} median {median:>8.1} us   p99 {p99:>8.1} us   ({iterations} runs)");
}

fn large_policy() -> (String, String) {
    let mut catalogue = String::new();
    for i in 0..10_000 {
        let _ = write!(catalogue, "[[resource]]\nname = \"svc{i}:prod\"\nkind = \"token\"\ndescription = \"service {i}\"\n");
        for role in ["read", "write", "admin", "deploy", "debug"] {
            let _ = write!(catalogue, "[[resource.role]]\nname = \"{role}\"\ndefault_duration = \"1h\"\nmax_duration = \"4h\"\nauto_approve = true\n");
        }
    }
    let mut csv = String::new();
    for i in 0..1_000 {
        let action = ["request", "auto_approve", "review", "breakglass"][i % 4];
        let _ = writeln!(
            csv,
            "p, group:team{}, svc{}*#*, {action}, allow",
            i % 97,
            i % 1000
        );
    }
    (catalogue, csv)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let example = Policy::load(&dir).await.expect("example policy");
    let groups = vec!["eng".to_string()];
    let sre = vec!["eng".to_string(), "sre".to_string()];
    let bob = Who {
        name: "bob@example.com",
        user_id: "bob",
        groups: &groups,
    };
    let alice = Who {
        name: "alice@example.com",
        user_id: "alice",
        groups: &sre,
    };
    let staging = Ask {
        resource: "aws:staging".into(),
        role: Some("admin".into()),
        ..Ask::default()
    };
    let prod = Ask {
        resource: "aws:prod".into(),
        role: Some("admin".into()),
        reason: Some("rotate the KMS key".into()),
        ticket: Some("CHG-1".into()),
        ..Ask::default()
    };
    println!("policy decision (decide: rules, thresholds, explanation)");
    measure(
        "example policy: auto-approved (engineer, aws:staging#admin)",
        20_000,
        || {
            std::hint::black_box(decide(&example, &bob, &staging));
        },
    );
    measure(
        "example policy: needs review (SRE, aws:prod#admin)",
        20_000,
        || {
            std::hint::black_box(decide(&example, &alice, &prod));
        },
    );
    let (catalogue, csv) = large_policy();
    let large = Policy::from_texts(&catalogue, latchkey::model::policy::rules::MODEL, &csv)
        .await
        .expect("large policy");
    let team = vec!["team5".to_string(), "eng".to_string()];
    let who = Who {
        name: "zoe@example.com",
        user_id: "zoe",
        groups: &team,
    };
    let ask = Ask {
        resource: "svc5:prod".into(),
        role: Some("write".into()),
        ..Ask::default()
    };
    measure(
        "large policy (10,000 x 5 roles, 1,000 lines): decide",
        2_000,
        || {
            std::hint::black_box(decide(&large, &who, &ask));
        },
    );
}
