//! The KRL writer judged by OpenSSH itself: random sets of revoked serials and key ids,
//! written by `model::krl`, and certificates signed by `ssh-keygen -s` with serials in and
//! out of the set; `ssh-keygen -Q` must call exactly the revoked ones revoked.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use latchkey::model::krl::{Krl, Revoked};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::ssh_fixture::{keygen, run, tool};

/// The CA's public key in wire form: the base64 of its `.pub` line.
fn wire(pub_line: &str) -> Vec<u8> {
    use base64::Engine;
    let b64 = pub_line.split_whitespace().nth(1).unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// Signs `user.pub` as certificate `name` with `serial` and `key_id`.
fn sign(dir: &Path, ca: &str, name: &str, serial: u64, key_id: &str) -> std::path::PathBuf {
    std::fs::copy(dir.join("user.pub"), dir.join(format!("{name}.pub"))).unwrap();
    let (code, _, err) = run(Command::new("ssh-keygen")
        .arg("-s")
        .arg(dir.join(ca))
        .args([
            "-q",
            "-I",
            key_id,
            "-n",
            "ops",
            "-V",
            "+1h",
            "-z",
            &serial.to_string(),
        ])
        .arg(dir.join(format!("{name}.pub"))));
    assert_eq!(code, Some(0), "{err}");
    dir.join(format!("{name}-cert.pub"))
}

/// Which of `certs` OpenSSH calls revoked by `krl`.
fn revoked_set(krl: &Path, certs: &[std::path::PathBuf]) -> Vec<bool> {
    let (_, out, err) = run(Command::new("ssh-keygen")
        .arg("-Q")
        .arg("-f")
        .arg(krl)
        .args(certs));
    certs
        .iter()
        .map(|c| {
            let line = out
                .lines()
                .find(|l| l.starts_with(c.to_str().unwrap()))
                .unwrap_or_else(|| panic!("no verdict for {}: {out} {err}", c.display()));
            line.ends_with("REVOKED")
        })
        .collect()
}

#[test]
fn openssh_reads_every_written_list_as_revoking_exactly_its_serials_and_key_ids() {
    if tool("ssh-keygen").is_none() {
        crate::helpers::missing_peer("ssh-keygen (Debian: openssh-client)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = wire(&keygen(&dir.path().join("ca"), "ed25519", None));
    let other = wire(&keygen(&dir.path().join("other"), "ed25519", None));
    keygen(&dir.path().join("user"), "ed25519", None);
    let strategy = (
        1u64..1u64 << 40,
        prop::collection::btree_set(0u64..20_000, 1..3000),
        0usize..2,
        prop::sample::select(vec![1usize, 3, 50]),
    );
    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::cell::Cell::new(0u64);
    runner
        .run(&strategy, |(base, offsets, by_other_ca, stride)| {
            case.set(case.get() + 1);
            // Dense runs, sparse scatter, or every `stride`th: every packing gets used.
            let serials: BTreeSet<u64> = offsets.iter().map(|o| base + o * stride as u64).collect();
            let ids: BTreeSet<String> =
                ["latchkey:alice@example.com:ssh:x#y:grant:g1".to_string()].into();
            let krl = Krl {
                version: case.get(),
                generated_at: 1_800_000_000,
                comment: "property".into(),
                authorities: vec![Revoked {
                    ca_key: if by_other_ca == 1 {
                        other.clone()
                    } else {
                        ca.clone()
                    },
                    serials: serials.clone(),
                    key_ids: ids,
                }],
            };
            let path = dir.path().join("test.krl");
            std::fs::write(&path, krl.encode()).unwrap();
            let first = *serials.iter().next().unwrap();
            let last = *serials.iter().last().unwrap();
            let inside = *serials.iter().nth(serials.len() / 2).unwrap();
            let mut probes: Vec<(u64, &str, bool)> = vec![
                (first, "id", true),
                (last, "id", true),
                (inside, "id", true),
                (last + 1, "id", false),
                (base + 20_000 * stride as u64 + 7, "id", false),
                (
                    last + 1,
                    "latchkey:alice@example.com:ssh:x#y:grant:g1",
                    true,
                ),
            ];
            if first > 1 {
                probes.push((first - 1, "id", false));
            }
            if let Some(gap) = (first..last).find(|s| !serials.contains(s)) {
                probes.push((gap, "id", false));
            }
            let certs: Vec<_> = probes
                .iter()
                .enumerate()
                .map(|(i, (serial, id, _))| sign(dir.path(), "ca", &format!("p{i}"), *serial, id))
                .collect();
            let got = revoked_set(&path, &certs);
            let want: Vec<bool> = probes.iter().map(|p| p.2 && by_other_ca == 0).collect();
            prop_assert_eq!(
                got,
                want,
                "serials {}..={} ({} of them), probes {:?}",
                first,
                last,
                serials.len(),
                probes
            );
            Ok(())
        })
        .unwrap();
}
