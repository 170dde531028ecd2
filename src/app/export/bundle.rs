//! Offline verification of an evidence bundle with nothing but the audit public key (and,
//! optionally, checkpoints kept elsewhere): the manifest's signature, each file's hash,
//! the chain through `chain_before.jsonl`, `events.jsonl` and `chain_after.jsonl`, and
//! the checkpoints it passes.

use std::io::BufRead;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::adapters::keys::audit::AuditPublicKey;
use crate::app::audit_verify::{anchors, Report};
use crate::app::export::manifest::{ChainRange, Manifest};
use crate::model::audit::chain::{ChainVerifier, Link, GENESIS};
use crate::model::audit::checkpoint;
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::lines::link_of_line;
use crate::model::audit::problem::Problem;

const BATCH: usize = 16_384;

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex::encode(ctx.finish()))
}

/// Reads lines into links, on several threads when there are many.
fn parse_batch(lines: &[Vec<u8>]) -> Vec<Result<Link, String>> {
    crate::model::audit::par::chunks(lines, |chunk| {
        chunk.iter().map(|l| link_of_line(l)).collect()
    })
}

/// Feeds one JSON-lines file to the verifier. Returns the first problem.
fn check_file(path: &Path, verifier: &mut ChainVerifier) -> Result<(), Problem> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return Err(Problem::new(
                verifier.next_seq(),
                "missing",
                format!("{}: {e}", path.display()),
            ));
        }
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    loop {
        let mut lines = Vec::with_capacity(BATCH);
        for _ in 0..BATCH {
            let mut line = Vec::with_capacity(512);
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    lines.push(line);
                }
                Err(e) => return Err(Problem::new(verifier.next_seq(), "missing", e.to_string())),
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        let mut events = Vec::with_capacity(lines.len());
        for parsed in parse_batch(&lines) {
            match parsed {
                Ok(e) => events.push(e),
                Err(why) => {
                    let at = verifier.next_seq() + events.len() as i64;
                    verifier.push_links(&events)?;
                    return Err(Problem::new(
                        at,
                        "edited",
                        format!("the line for event {at} is not an event: {why}"),
                    ));
                }
            }
        }
        verifier.push_links(&events)?;
    }
}

/// Verifies the bundle in `dir` against `key`, with checkpoints from elsewhere if given.
pub fn verify_bundle(
    dir: &Path,
    key: &AuditPublicKey,
    outside: Vec<Checkpoint>,
) -> Result<Report, String> {
    let text = std::fs::read(dir.join("manifest.json"))
        .map_err(|e| format!("{}: {e}", dir.join("manifest.json").display()))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| format!("manifest.json is not a latchkey manifest: {e}"))?;
    let mut report = Report::default();
    check_signature(&manifest, key, &mut report)?;
    check_file_hashes(dir, &manifest, &mut report);
    let (checkpoints, mut problems) =
        checkpoint::merge(vec![manifest.checkpoints.clone(), outside], key);
    if let Err(p) = checkpoint::check_series(&checkpoints, key) {
        problems.push(p);
    }
    if manifest.chain.period_seqs.is_some() {
        check_chain(
            dir,
            &manifest.chain,
            &checkpoints,
            &mut report,
            &mut problems,
        );
    }
    report.checkpoints = checkpoints.len();
    report.problems = problems;
    Ok(report.conclude())
}

/// The manifest was signed by `key`.
fn check_signature(
    manifest: &Manifest,
    key: &AuditPublicKey,
    report: &mut Report,
) -> Result<(), String> {
    if manifest.audit_key.kid != key.kid {
        report.errors.push(format!(
            "the bundle was signed by audit key {}, not by the key given ({})",
            manifest.audit_key.kid, key.kid
        ));
    }
    let signed = manifest.signed_bytes()?;
    let signature_ok = URL_SAFE_NO_PAD
        .decode(&manifest.signature)
        .is_ok_and(|sig| key.verify(&signed, &sig));
    if !signature_ok {
        report.errors.push("manifest.json's signature does not verify: the manifest was changed or not signed by this key".into());
    }
    Ok(())
}

/// Every file the manifest names is in the bundle, unchanged.
fn check_file_hashes(dir: &Path, manifest: &Manifest, report: &mut Report) {
    for f in &manifest.files {
        if f.name.contains('/') || f.name.starts_with('.') {
            report
                .errors
                .push(format!("the manifest names an unsafe file {:?}", f.name));
            continue;
        }
        match sha256_file(&dir.join(&f.name)) {
            Ok(h) if h == f.sha256 => {}
            Ok(_) => report.errors.push(format!(
                "{}: its SHA-256 is not the manifest's: the file was changed",
                f.name
            )),
            Err(e) => report.errors.push(format!("{}: {e}", f.name)),
        }
    }
}

/// The chain runs from an anchored start through the three files to the manifest's end.
fn check_chain(
    dir: &Path,
    chain: &ChainRange,
    checkpoints: &[Checkpoint],
    report: &mut Report,
    problems: &mut Vec<Problem>,
) {
    let (first, last) = chain.period_seqs.unwrap_or((1, 0));
    let anchored = chain.start_seq == 1 && chain.start_prev_hash == GENESIS
        || checkpoints
            .iter()
            .any(|c| c.events == chain.start_seq - 1 && c.head_hash == chain.start_prev_hash);
    if !anchored {
        report.errors.push(format!(
            "the chain's start (after event {}) is not anchored by a checkpoint in the bundle",
            chain.start_seq - 1
        ));
    }
    let mut verifier = ChainVerifier::new(
        chain.start_seq,
        &chain.start_prev_hash,
        anchors(checkpoints),
    );
    let mut result = Ok(());
    for name in ["chain_before.jsonl", "events.jsonl", "chain_after.jsonl"] {
        result = check_file(&dir.join(name), &mut verifier);
        if result.is_err() {
            break;
        }
    }
    let result = result.and_then(|()| verifier.finish()).and_then(|()| {
        let end = verifier.next_seq() - 1;
        if end < chain.end_seq {
            Err(Problem::new(
                end + 1,
                "truncated",
                format!(
                    "the manifest says the bundle runs to event {} but it ends at event {end}",
                    chain.end_seq
                ),
            ))
        } else if end < last || verifier.checked() == 0 && first <= last {
            Err(Problem::new(
                end + 1,
                "truncated",
                format!("the period's events end at {last} but the bundle ends at {end}"),
            ))
        } else {
            Ok(())
        }
    });
    if let Err(p) = result {
        problems.push(p);
    }
    report.events = verifier.checked();
    report.last_seq = verifier.next_seq() - 1;
}
