//! SSH access as a user has it: `latchkey ssh` logging in to a real sshd with a
//! certificate, sshd refusing the wrong principal and an expired certificate, and the
//! revocation list taking effect at the next login.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::ssh_fixture::{keygen, run, tool, SshFixture};

/// The CLI as a user runs it, with `home` as HOME and config directory.
pub fn cli(home: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    run(crate::cli_and_config::latchkey(home).args(args))
}

/// ssh's options for a test: no user configuration, no prompts, no agent.
pub const SSH_OPTS: [&str; 6] = [
    "-F",
    "/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentityAgent=none",
];

/// Logs `email` in through the CLI and requests `role` on ssh:test; returns the grant id.
pub fn grant(app_url: &str, home: &Path, email: &str, role: &str) -> String {
    let (code, _, err) = cli(
        home,
        &[
            "login", "--server", app_url, "--dev", email, "--groups", "eng",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = cli(
        home,
        &[
            "request", "ssh:test", "--role", role, "--for", "1h", "--output", "json",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["request"]["state"], "active", "{v}");
    v["request"]["id"].as_str().unwrap().to_string()
}

fn ssh_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["ssh", "ssh:test", "--"];
    a.extend(SSH_OPTS);
    a.extend(extra);
    a
}

/// `ssh-keygen -Q`: true when OpenSSH reads `cert` as revoked by `krl`.
pub fn revoked_per_openssh(krl: &Path, cert: &Path) -> bool {
    let (code, out, err) = run(Command::new("ssh-keygen")
        .arg("-Q")
        .arg("-f")
        .arg(krl)
        .arg(cert));
    match code {
        Some(0) => false,
        _ => {
            assert!(
                out.contains("REVOKED"),
                "ssh-keygen -Q failed otherwise: {out} {err}"
            );
            true
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latchkey_ssh_logs_in_and_after_revocation_the_krl_refuses_the_same_certificate() {
    let Some(mut f) = SshFixture::new() else {
        return;
    };
    let app = f.broker(None).await;
    f.start(&app).await;
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    let key = home.path().join(".ssh/id_ed25519");
    keygen(&key, "ed25519", None);
    let id = grant(&app.url, home.path(), "alice@example.com", "shell");

    let (code, out, err) = cli(home.path(), &ssh_args(&["echo", "in as", "$USER"]));
    assert_eq!(code, Some(0), "{err}\n{}", f.log());
    assert!(out.starts_with("in as"), "{out}");
    let cert = home.path().join(".ssh/id_ed25519-ssh_test-cert.pub");
    let (_, listing, _) = run(Command::new("ssh-keygen").arg("-L").arg("-f").arg(&cert));
    assert!(
        listing.contains("Type: ssh-ed25519-cert-v01@openssh.com user certificate"),
        "{listing}"
    );
    assert!(
        listing.contains(&format!(
            "latchkey:alice@example.com:ssh:test#shell:grant:{id}"
        )),
        "{listing}"
    );
    assert!(
        listing.contains("permit-pty") && !listing.contains("permit-port-forwarding"),
        "{listing}"
    );
    for p in [f.user.as_str(), "ops"] {
        assert!(
            listing.contains(&format!("\n                {p}\n")),
            "{p}: {listing}"
        );
    }
    assert!(!revoked_per_openssh(&f.path("revoked.krl"), &cert));

    let (code, _, err) = cli(home.path(), &["revoke", &id]);
    assert_eq!(code, Some(0), "{err}");
    // sshd knows nothing of the broker: until the list reaches it, the certificate works.
    assert_eq!(f.ssh_with(&key, &cert, &f.user).0, Some(0));
    let (code, _, err) = cli(
        home.path(),
        &[
            "ssh",
            "krl",
            "--out",
            f.path("revoked.krl").to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(revoked_per_openssh(&f.path("revoked.krl"), &cert));
    let (code, err) = f.ssh_with(&key, &cert, &f.user);
    assert_eq!(code, Some(255), "{err}");
    assert!(f.log().contains("revoked"), "{}", f.log());
    // And the broker gives no new one.
    let (code, _, err) = cli(home.path(), &ssh_args(&["true"]));
    assert_ne!(code, Some(0));
    assert!(err.contains("latchkey request ssh:test"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_refuses_a_certificate_without_an_allowed_principal_and_an_expired_one() {
    let Some(mut f) = SshFixture::new() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let app = f.broker(Some(data.path().to_path_buf())).await;
    f.start(&app).await;
    let home = tempfile::tempdir().unwrap();
    grant(&app.url, home.path(), "bob@example.com", "wrong");
    // No key of bob's own: a key made for this login only.
    let (code, _, err) = cli(home.path(), &ssh_args(&["true"]));
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert!(
        !home.path().join(".ssh").exists(),
        "nothing written to ~/.ssh"
    );

    // The broker's own CA, back-dated: sshd checks the dates (and the control passes).
    let ca_key = std::fs::read_dir(data.path().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("ssh-ca-")
        })
        .unwrap();
    let user_key = f.path("user");
    keygen(&user_key, "ed25519", None);
    for (validity, serial, expect) in [("-2h:-1h", "900", Some(255)), ("-5m:+1h", "901", Some(0))] {
        let (code, _, err) = run(Command::new("ssh-keygen")
            .arg("-s")
            .arg(&ca_key)
            .args(["-I", "test", "-n", "ops", "-V", validity, "-z", serial])
            .arg(format!("{}.pub", user_key.display())));
        assert_eq!(code, Some(0), "{err}");
        let (code, err) = f.ssh_with(&user_key, &f.path("user-cert.pub"), &f.user);
        assert_eq!(code, expect, "{validity}: {err}");
    }
    assert!(
        f.log().contains("expired")
            || f.log().contains("not yet valid")
            || f.log().contains("invalid"),
        "{}",
        f.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creds_ssh_agent_gives_a_key_made_in_memory_to_the_agent_with_its_certificate() {
    let Some(mut f) = SshFixture::new() else {
        return;
    };
    let app = f.broker(None).await;
    f.start(&app).await;
    let home = tempfile::tempdir().unwrap();
    grant(&app.url, home.path(), "carol@example.com", "shell");
    let sock = f.path("agent.sock");
    let mut agent = Command::new(tool("ssh-agent").unwrap())
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (code, out, err) = run(crate::cli_and_config::latchkey(home.path())
        .env("SSH_AUTH_SOCK", &sock)
        .args(["creds", "ssh", "ssh:test", "--agent", "--for", "30m"]));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("in the ssh-agent"), "{out}");
    assert!(
        !home.path().join(".ssh").exists(),
        "the key never touched a disk"
    );
    let (_, listed, _) = run(Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &sock));
    assert!(
        listed.contains("ED25519-CERT") && listed.contains("latchkey:carol@example.com"),
        "{listed}"
    );
    let known = f.path("known_hosts");
    std::fs::write(&known, format!("[127.0.0.1]:{} {}\n", f.port, f.host_key)).unwrap();
    let (code, _, err) = run(Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .arg("-o")
        .arg(format!("IdentityAgent={}", sock.display()))
        .args(["-p", &f.port.to_string()])
        .arg(format!("{}@127.0.0.1", f.user))
        .arg("true"));
    assert_eq!(code, Some(0), "{err}\n{}", f.log());
    let _ = agent.kill();
    let _ = agent.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_can_bind_its_certificates_to_the_callers_address_and_one_command() {
    let Some(mut f) = SshFixture::new() else {
        return;
    };
    let app = f.broker(None).await;
    f.start(&app).await;
    let home = tempfile::tempdir().unwrap();
    grant(&app.url, home.path(), "dave@example.com", "bound");
    let (code, out, err) = cli(home.path(), &ssh_args(&["echo", "not", "this"]));
    assert_eq!(
        (code, out.trim()),
        (Some(0), "forced"),
        "{err}\n{}",
        f.log()
    );
    let (code, out, _) = cli(
        home.path(),
        &["creds", "ssh", "ssh:test", "--agent", "--format", "json"],
    );
    // No agent here: a clear refusal, not a certificate printed.
    assert_ne!(code, Some(0), "{out}");
    let (_, config, _) = cli(home.path(), &["ssh-config"]);
    assert!(
        config.contains("Host ssh-test\n    HostName 127.0.0.1\n"),
        "{config}"
    );
    assert!(
        config.contains(&format!("    Port {}\n", f.port)),
        "{config}"
    );
    assert!(
        config.contains(&format!("    User {}\n", f.user)),
        "{config}"
    );
    assert!(
        config.contains("CertificateFile ") && config.contains("-ssh_test-cert.pub"),
        "{config}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_fetcher_installs_a_list_whole_and_keeps_the_last_good_one() {
    let Some(f) = SshFixture::new() else { return };
    let app = f.broker(None).await;
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ssh");
    let target = f.path("latchkey_revoked.krl");
    let fetch = |url: &str| {
        run(Command::new("sh")
            .arg(deploy.join("latchkey-krl-fetch"))
            .env("LATCHKEY_URL", url)
            .env("KRL_FILE", &target))
    };
    let (code, _, err) = fetch(&app.url);
    assert_eq!(code, Some(0), "{err}");
    let good = std::fs::read(&target).unwrap();
    assert_eq!(&good[..8], b"SSHKRL\n\0");
    // An answer that is not a KRL (here the health check's JSON) never replaces the list.
    let (code, _, err) = fetch(&format!("{}/healthz?", app.url));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("left as it was"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), good);
    // Nor does a broker that cannot be reached.
    let (code, _, _) = fetch("http://127.0.0.1:9");
    assert_ne!(code, Some(0));
    assert_eq!(std::fs::read(&target).unwrap(), good);
    assert_eq!(
        std::fs::read_dir(f.dir.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".latchkey"))
            .count(),
        0,
        "no temporary file left"
    );
    // The sshd snippet is one sshd takes.
    let _ = std::fs::create_dir_all("/run/sshd");
    let (code, _, err) = run(Command::new(tool("sshd").unwrap())
        .arg("-t")
        .arg("-f")
        .arg(deploy.join("sshd_config.d-latchkey.conf"))
        .arg("-h")
        .arg(f.path("host_key")));
    assert_eq!(code, Some(0), "{err}");
}
