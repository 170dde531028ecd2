//! deploy/latchkey.service with deploy/latchkey.toml: checked by `systemd-analyze verify`
//! (in a root of its own, where /usr/local/bin/latchkey is the binary under test), and
//! read beside the configuration so that every path the broker writes is writable under
//! the unit's sandbox and every secret has a way in.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::deploy_manifests::{repo, run};
use crate::helpers::missing_peer;

/// The values of `key=` in the unit's `[Service]` section, in order.
pub(crate) fn service(unit: &str, key: &str) -> Vec<String> {
    let mut in_service = false;
    let mut found = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if let Some(value) = line.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            if in_service {
                found.push(value.to_string());
            }
        }
    }
    found
}

fn unit() -> String {
    std::fs::read_to_string(repo().join("deploy/latchkey.service")).unwrap()
}

/// `systemd-analyze verify` of `unit` installed in a scratch root with the system's units,
/// the broker under test and the commands the unit runs. What it said, if anything.
fn verify(analyze: &Path, unit: &str) -> (bool, String) {
    let root = tempfile::tempdir().unwrap();
    let units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .find(|d| Path::new(d).join("multi-user.target").exists())
        .expect("the system's units");
    let lib = root.path().join("usr/lib/systemd");
    std::fs::create_dir_all(&lib).unwrap();
    let (ok, said) = run(Command::new("cp")
        .arg("-r")
        .arg(units)
        .arg(lib.join("system")));
    assert!(ok, "{said}");
    for (from, to) in [
        (
            PathBuf::from(env!("CARGO_BIN_EXE_latchkey")),
            "usr/local/bin/latchkey",
        ),
        (std::fs::canonicalize("/bin/kill").unwrap(), "bin/kill"),
    ] {
        let to = root.path().join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
    let installed = root.path().join("etc/systemd/system/latchkey.service");
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    std::fs::write(&installed, unit).unwrap();
    let (ok, said) = run(Command::new(analyze)
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .arg(&installed));
    (ok && said.trim().is_empty(), said)
}

#[test]
fn systemd_analyze_verify_finds_nothing_to_say_about_the_unit() {
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
    else {
        missing_peer("systemd-analyze (Debian's systemd package)");
        return;
    };
    let (ok, said) = verify(analyze, &unit());
    assert!(ok, "systemd-analyze verify: {said}");
    // It does catch what would stop a start or be ignored silently.
    let typo = unit().replace("ReadWritePaths=", "ReadWritePath=");
    let (ok, said) = verify(analyze, &typo);
    assert!(!ok && said.contains("ReadWritePath"), "{said}");
    let gone = unit().replace(
        "/usr/local/bin/latchkey serve",
        "/usr/local/bin/latchkeyd serve",
    );
    let (ok, said) = verify(analyze, &gone);
    assert!(!ok && said.contains("latchkeyd"), "{said}");
}

/// Whether `path` is one of the unit's `ReadWritePaths` ("-" only makes a missing one no error).
fn read_write(unit: &str, path: &str) -> bool {
    service(unit, "ReadWritePaths")
        .iter()
        .flat_map(|v| v.split_whitespace())
        .any(|p| p.trim_start_matches('-') == path)
}

/// Whether systemd makes `path` for the service: a StateDirectory (under /var/lib) or a
/// LogsDirectory (under /var/log).
fn made_by_systemd(unit: &str, path: &str) -> bool {
    [
        ("StateDirectory", "/var/lib/"),
        ("LogsDirectory", "/var/log/"),
    ]
    .iter()
    .any(|(key, base)| {
        service(unit, key)
            .iter()
            .flat_map(|v| v.split_whitespace())
            .any(|d| format!("{base}{d}") == path)
    })
}

#[test]
fn every_path_the_shipped_configuration_writes_is_made_and_writable_under_the_unit() {
    let unit = unit();
    let config: toml::Table = std::fs::read_to_string(repo().join("deploy/latchkey.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        service(&unit, "ExecStart"),
        ["/usr/local/bin/latchkey serve --config /etc/latchkey/latchkey.toml"]
    );
    let audit = config["audit"].as_table().unwrap();
    let event_file = audit["event_sink"]
        .as_str()
        .unwrap()
        .strip_prefix("file:")
        .unwrap();
    let written = [
        config["data_dir"].as_str().unwrap().to_string(),
        audit["checkpoint_sink"].as_str().unwrap().to_string(),
        Path::new(event_file)
            .parent()
            .unwrap()
            .display()
            .to_string(),
    ];
    for path in &written {
        assert!(Path::new(path).is_absolute(), "{path}");
        assert!(
            made_by_systemd(&unit, path),
            "{path}: no StateDirectory or LogsDirectory"
        );
        assert!(read_write(&unit, path), "{path}: not in ReadWritePaths");
    }
    assert_eq!(service(&unit, "WorkingDirectory"), [written[0].clone()]);
    // The policy directory is named, absolutely: the default `policies` would be relative
    // to the working directory.
    let policy_dir = config["policy_dir"].as_str().expect("policy_dir set");
    assert!(policy_dir.starts_with("/etc/latchkey/"), "{policy_dir}");
    // Secrets: an environment file, and the TLS key handed over as a credential, which
    // the variable points the broker at instead of the root-only file.
    assert_eq!(
        service(&unit, "EnvironmentFile"),
        ["-/etc/latchkey/latchkey.env"]
    );
    let key = config["tls"]["key"].as_str().unwrap();
    assert_eq!(service(&unit, "LoadCredential"), [format!("tls.key:{key}")]);
    assert!(service(&unit, "Environment").contains(&"LATCHKEY_TLS_KEY=%d/tls.key".to_string()));
    assert!(
        std::fs::read_to_string(repo().join("deploy/latchkey.env.example"))
            .unwrap()
            .contains("LATCHKEY_DATABASE_URL=")
    );
}
