//! The audit log's speed: `cargo bench --bench audit` prints its figures.
//! Targets: durable chained appends on SQLite at least 5,000 events/s; verification at
//! least 500,000 events/s; an evidence export of 1,000,000 events within 30 s.
//! `AUDIT_BENCH_EVENTS` changes the size of the export run (default 1,000,000).

use std::time::{Duration, Instant};

use chrono::Utc;
use latchkey::adapters::keys::audit::AuditKey;
use latchkey::app::export::bundle::verify_bundle;
use latchkey::app::export::{write_bundle, Period};
use latchkey::model::audit::chain::{link, ChainVerifier, GENESIS};
use latchkey::model::audit::{AuditEvent, EventKind, Origin};
use latchkey::store::Store;

fn event(i: u64) -> AuditEvent {
    let origin = Origin {
        request_id: Some(format!("req-{i:08}")),
        client: latchkey::app::ClientInfo {
            addr: Some("10.1.2.3".into()),
            user_agent: Some("latchkey-cli/0.1.0".into()),
        },
    };
    AuditEvent::new(EventKind::GrantActivated, "dev|alice@example.com", &origin, Utc::now()).unwrap()
        .about(&format!("{:032x}", i), "aws:prod", "readonly")
        .outcome("success", Some("deploy the payments service".into()))
        .details(serde_json::json!({ "from": "approved", "to": "active", "expires_at": "2026-11-26T13:00:00.000Z" }))
}

async fn appends(store: &Store, writers: usize, per_tx: usize, run: Duration) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < run {
                let mut tx = store.begin().await.expect("begin");
                for k in 0..per_tx {
                    tx.append_audit(&event((w * 1_000_000) as u64 + n + k as u64))
                        .await
                        .expect("append");
                }
                tx.commit().await.expect("commit");
                n += per_tx as u64;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("writer");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = Store::connect(&url).await.expect("sqlite");
        store.migrate().await.expect("migrate");
        // Verification in memory: hashing and linking only.
        let n = std::env::var("AUDIT_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000u64);
        let (mut seq, mut prev) = (0, GENESIS.to_string());
        let events: Vec<AuditEvent> = (0..n.min(200_000))
            .map(|i| {
                let mut e = event(i);
                link(&mut e, seq, &prev).expect("link");
                (seq, prev) = (e.seq, e.hash.clone());
                e
            })
            .collect();
        let start = Instant::now();
        let mut sink = 0usize;
        for e in &events {
            sink += latchkey::model::audit::chain::event_hash(e).expect("hash").len();
        }
        let per = start.elapsed().as_secs_f64() / events.len() as f64;
        println!("One event's canonical encoding and SHA-256, one core: {:.2} µs ({sink} hex digits)", per * 1e6);
        let start = Instant::now();
        let mut bytes = 0usize;
        for e in &events {
            let mut buf = Vec::with_capacity(512);
            latchkey::model::audit::chain::write_event(e, false, &mut buf).expect("encode");
            bytes += buf.len();
        }
        println!(
            "  of which the encoding: {:.2} µs ({} bytes per event)",
            start.elapsed().as_secs_f64() / events.len() as f64 * 1e6,
            bytes / events.len()
        );
        let start = Instant::now();
        let mut v = ChainVerifier::new(1, GENESIS, Vec::new());
        for page in events.chunks(20_000) {
            v.push(page).expect("intact");
        }
        let rate = v.checked() as f64 / start.elapsed().as_secs_f64();
        println!("Verification of events in memory ({} events, all cores): {rate:>9.0} events/s", v.checked());
        drop(events);

        println!("Durable chained appends on SQLite (WAL, synchronous=NORMAL; one transaction per commit):");
        for (writers, per_tx) in [(1, 1), (8, 1), (8, 10)] {
            let rate = appends(&store, writers, per_tx, Duration::from_secs(3)).await;
            println!("  {writers} writer(s), {per_tx} event(s) per transaction: {rate:>9.0} events/s");
        }

        // A log of n events, then its export and the export's offline verification.
        let fill = Instant::now();
        let mut written = 0u64;
        while written < n {
            let mut tx = store.begin().await.expect("begin");
            for _ in 0..10_000.min(n - written) {
                tx.append_audit(&event(written)).await.expect("append");
                written += 1;
            }
            tx.commit().await.expect("commit");
        }
        println!("Filled a log of {n} more events in {:.1} s (10,000 per transaction)", fill.elapsed().as_secs_f64());
        let key = AuditKey::load_or_create(dir.path()).expect("key");
        let mut tx = store.begin().await.expect("begin");
        let (events, head) = tx.lock_audit_head().await.expect("head");
        let cp = latchkey::model::audit::checkpoint::Checkpoint::sign(&key, None, events, &head, Utc::now());
        tx.insert_checkpoint(&cp).await.expect("checkpoint");
        tx.commit().await.expect("commit");

        let out = tempfile::tempdir().expect("out");
        let period = Period { from: Utc::now() - chrono::Duration::days(1), to: Utc::now() + chrono::Duration::days(1) };
        let start = Instant::now();
        let (manifest, problem) = write_bundle(&store, &key, period, "bench", out.path(), &|_, _| {}, chrono::Utc::now()).await.expect("export");
        let took = start.elapsed();
        assert!(problem.is_none(), "{problem:?}");
        let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
        println!(
            "Export of {} events: {:.1} s ({:.0} MiB written; target 30 s for 1,000,000)",
            manifest.chain.period_seqs.map_or(0, |(a, b)| b - a + 1),
            took.as_secs_f64(),
            bytes as f64 / 1048576.0
        );
        let start = Instant::now();
        let report = verify_bundle(out.path(), key.public(), Vec::new()).expect("verify");
        let took = start.elapsed();
        assert!(report.ok, "{report:?}");
        println!(
            "Offline verification of that bundle (file hashes, parsing, chain): {:.1} s, {:.0} events/s",
            took.as_secs_f64(),
            report.events as f64 / took.as_secs_f64()
        );
        let start = Instant::now();
        let live = latchkey::app::audit_verify::verify_store(&store, key.public(), Vec::new(), None).await.expect("live");
        assert!(live.ok, "{live:?}");
        println!(
            "Live verification from SQLite: {} events in {:.1} s, {:.0} events/s",
            live.events,
            start.elapsed().as_secs_f64(),
            live.events as f64 / start.elapsed().as_secs_f64()
        );
    });
}
