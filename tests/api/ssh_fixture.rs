//! A real OpenSSH server for the SSH tests: Debian's sshd, unprivileged or as root, on a
//! loopback port, with its own host key, trusting the broker's CA (`TrustedUserCAKeys`,
//! fetched from `/v1/ssh/ca`), reading the broker's revocation list (`RevokedKeys`) and
//! taking one principal, `ops`, for the user it runs as (`AuthorizedPrincipalsFile`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{missing_peer, spawn_app, Options, TestApp};

pub struct SshFixture {
    pub dir: tempfile::TempDir,
    pub policy: tempfile::TempDir,
    pub port: u16,
    /// The account sshd logs in to: whoever runs the tests.
    pub user: String,
    /// The host's public key line.
    pub host_key: String,
    sshd: Option<Child>,
}

/// `which NAME`, also looking in /usr/sbin (sshd).
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/usr/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

pub fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A new key pair at `path` (no passphrase).
pub fn keygen(path: &Path, kind: &str, bits: Option<&str>) -> String {
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-N", "", "-C", "test", "-t", kind, "-f"])
        .arg(path);
    if let Some(b) = bits {
        c.args(["-b", b]);
    }
    let (code, _, err) = run(&mut c);
    assert_eq!(code, Some(0), "ssh-keygen: {err}");
    std::fs::read_to_string(format!("{}.pub", path.display())).unwrap()
}

impl SshFixture {
    /// `None` (a visible skip, or a failure in CI) without OpenSSH's server and client.
    pub fn new() -> Option<Self> {
        for t in ["sshd", "ssh", "ssh-keygen", "ssh-add", "ssh-agent"] {
            if tool(t).is_none() {
                missing_peer(&format!("{t} (Debian: openssh-server, openssh-client)"));
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let host_key = keygen(&dir.path().join("host_key"), "ed25519", None);
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        std::fs::write(dir.path().join("principals"), "ops\n").unwrap();
        let policy = tempfile::tempdir().unwrap();
        let f = Self {
            dir,
            policy,
            port: crate::cli_and_config::free_port(),
            user,
            host_key: host_key
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
            sshd: None,
        };
        f.write_policy();
        Some(f)
    }

    fn write_policy(&self) {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let p = self.policy.path();
        std::fs::copy(shipped.join("model.conf"), p.join("model.conf")).unwrap();
        std::fs::write(
            p.join("policy.csv"),
            "p, *, *, request, allow\np, *, *, auto_approve, allow\n",
        )
        .unwrap();
        let role = |name: &str, extra: &str| {
            format!(
                r#"
[[resource.role]]
name = "{name}"
default_duration = "1h"
max_duration = "8h"
max_extensions = 2
auto_approve = true

[resource.role.ssh]
login = "{user}"
max_validity = "2h"
{extra}
"#,
                user = self.user
            )
        };
        let catalogue = format!(
            r#"
[[resource]]
name = "ssh:test"
kind = "ssh"
description = "the test sshd"

[resource.ssh]
host = "127.0.0.1"
port = {port}
host_key = "{host_key}"
{shell}{wrong}{bound}{email}"#,
            port = self.port,
            host_key = self.host_key,
            shell = role(
                "shell",
                &format!(
                    r#"principals = ["{}", "ops"]
extensions = ["permit-pty"]"#,
                    self.user
                )
            ),
            wrong = role(
                "wrong",
                &format!(r#"principals = ["{}", "nobody"]"#, self.user)
            ),
            bound = role(
                "bound",
                &format!(
                    r#"principals = ["{}", "ops"]
source_address = ["caller"]
force_command = "echo forced""#,
                    self.user
                )
            ),
            email = role(
                "email",
                &format!(r#"principals = ["{}", "{{email.local}}"]"#, self.user)
            ),
        );
        std::fs::write(p.join("catalogue.toml"), catalogue).unwrap();
    }

    /// A development broker on the fixture's policy (on `data_dir` if given, to restart).
    pub async fn broker(&self, data_dir: Option<PathBuf>) -> TestApp {
        spawn_app(Options {
            dev: true,
            data_dir,
            policy_dir: Some(self.policy.path().to_path_buf()),
            ..Options::default()
        })
        .await
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes what sshd trusts (the broker's CA keys) and reads (its revocation list).
    pub async fn refresh(&self, app: &TestApp) {
        let ca = app.get("/v1/ssh/ca", None).await.text().await.unwrap();
        assert!(ca.starts_with("ssh-"), "{ca}");
        std::fs::write(self.path("ca.pub"), ca).unwrap();
        self.fetch_krl(app).await;
    }

    /// Fetches the revocation list into the file sshd reads, as the timer in deploy/ does.
    pub async fn fetch_krl(&self, app: &TestApp) {
        let krl = app.get("/v1/ssh/krl", None).await.bytes().await.unwrap();
        let tmp = self.path("revoked.krl.new");
        std::fs::write(&tmp, &krl).unwrap();
        std::fs::rename(tmp, self.path("revoked.krl")).unwrap();
    }

    /// Starts sshd, trusting `app`'s CA.
    pub async fn start(&mut self, app: &TestApp) {
        self.refresh(app).await;
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nPidFile none\nUsePAM no\nStrictModes no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             AuthorizedKeysFile none\nTrustedUserCAKeys {dir}/ca.pub\nRevokedKeys {dir}/revoked.krl\n\
             AuthorizedPrincipalsFile {dir}/principals\nExposeAuthInfo yes\nLogLevel VERBOSE\n",
            port = self.port,
            dir = self.dir.path().display()
        );
        std::fs::write(self.path("sshd_config"), config).unwrap();
        // Privilege separation needs its empty directory when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let log = std::fs::File::create(self.path("sshd.log")).unwrap();
        let child = Command::new(tool("sshd").unwrap())
            .args(["-D", "-e", "-f"])
            .arg(self.path("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.sshd = Some(child);
        let began = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "sshd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }

    /// Plain `ssh` with `key` and `cert` (no latchkey), running `true`: its exit code and stderr.
    pub fn ssh_with(&self, key: &Path, cert: &Path, login: &str) -> (Option<i32>, String) {
        let known = self.path("known_hosts");
        std::fs::write(
            &known,
            format!("[127.0.0.1]:{} {}\n", self.port, self.host_key),
        )
        .unwrap();
        let (code, _, err) = run(Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "IdentityAgent=none",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known.display()))
            .arg("-i")
            .arg(key)
            .arg("-o")
            .arg(format!("CertificateFile={}", cert.display()))
            .args(["-p", &self.port.to_string()])
            .arg(format!("{login}@127.0.0.1"))
            .arg("true"));
        (code, err)
    }
}

impl Drop for SshFixture {
    fn drop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
