//! `latchkey audit …`: verify the live log or a bundle, export evidence, follow the log,
//! sign a checkpoint, print the audit key.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::adapters::keys::audit::AuditPublicKey;
use crate::adapters::sink;
use crate::app::audit_verify::Report;
use crate::app::export::bundle::verify_bundle;
use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::output::{exit, Output};
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::{format_at, AuditEvent};

/// `latchkey audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the live log (on the broker) or an exported bundle (offline, with the audit key).
    Verify {
        /// An exported bundle directory: verified here, offline, with --key.
        #[arg(long, value_name = "DIR", requires = "key")]
        bundle: Option<PathBuf>,
        /// The audit public key as a JWK file (`latchkey audit key > audit-key.jwk`).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// A directory of checkpoints kept elsewhere (the checkpoint sink's files).
        #[arg(long, value_name = "DIR")]
        checkpoints: Option<PathBuf>,
    },
    /// Write the evidence bundle of a period into a new directory.
    Export {
        /// First day (YYYY-MM-DD, UTC) or instant (RFC 3339) included.
        #[arg(long)]
        from: String,
        /// Last day included (YYYY-MM-DD) or first instant excluded (RFC 3339).
        #[arg(long)]
        to: String,
        /// Directory to write (created; must not hold a bundle already).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Check the bundle against this audit key (JWK file) after writing it.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Print events; with --follow, keep printing them as they happen.
    Tail {
        /// Start after this sequence number (default: the last 20 events).
        #[arg(long)]
        after: Option<i64>,
        /// Keep following the log.
        #[arg(long, short)]
        follow: bool,
    },
    /// Sign a checkpoint of the log now (administrators and auditors).
    Checkpoint,
    /// Print the audit public key as a JWK, to pin and give to auditors.
    Key,
}

fn read_key(path: &Path) -> Result<AuditPublicKey, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading the audit key {}: {e}", path.display()))?;
    AuditPublicKey::from_jwk(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()).into())
}

fn read_checkpoints(dir: Option<&Path>) -> Result<Vec<Checkpoint>, CliError> {
    match dir {
        None => Ok(Vec::new()),
        Some(d) => sink::read_checkpoint_dir(d).map_err(|e| anyhow::anyhow!(e).into()),
    }
}

/// Prints a report; a tampered log is exit code [`exit::TAMPERED`].
fn report(output: Output, what: &str, r: &Report) -> Result<(), CliError> {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(r).map_err(anyhow::Error::from)?
        ),
        Output::Text if r.ok => println!(
            "{what}: OK. {} events checked (up to event {}), {} checkpoints hold.",
            r.events, r.last_seq, r.checkpoints
        ),
        Output::Text => {
            println!("{what}: FAILED.");
            if let Some(seq) = r.first_bad_seq {
                let how = if r.first_bad_exact {
                    "exactly"
                } else {
                    "the first the evidence cannot vouch for"
                };
                println!("First bad sequence number: {seq} ({how})");
            }
            for p in &r.problems {
                println!("  {}: {} ({})", p.range(), p.message, p.code);
            }
            for e in &r.errors {
                println!("  {e}");
            }
        }
    }
    if r.ok {
        Ok(())
    } else {
        Err(CliError::Exit(
            exit::TAMPERED,
            format!("{what} did not verify"),
        ))
    }
}

/// `latchkey audit verify --bundle DIR --key FILE`: offline, no broker needed.
pub fn verify_offline(
    output: Output,
    bundle: &Path,
    key: &Path,
    checkpoints: Option<&Path>,
) -> Result<(), CliError> {
    let key = read_key(key)?;
    let r = verify_bundle(bundle, &key, read_checkpoints(checkpoints)?)
        .map_err(|e| anyhow::anyhow!(e))?;
    report(output, &format!("bundle {}", bundle.display()), &r)
}

/// Runs an `audit` verb against the broker.
pub async fn run(api: &ApiClient, output: Output, command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify {
            bundle: Some(b),
            key: Some(k),
            checkpoints,
        } => verify_offline(output, &b, &k, checkpoints.as_deref()),
        AuditCommand::Verify { checkpoints, .. } => {
            let outside = read_checkpoints(checkpoints.as_deref())?;
            let r: Report = api
                .post(
                    "/v1/audit/verify",
                    &serde_json::json!({ "checkpoints": outside }),
                )
                .await?;
            report(output, &format!("audit log at {}", api.server()), &r)
        }
        AuditCommand::Export { from, to, out, key } => {
            export(api, output, &from, &to, &out, key.as_deref()).await
        }
        AuditCommand::Tail { after, follow } => tail(api, output, after, follow).await,
        AuditCommand::Checkpoint => {
            let cp: Checkpoint = api
                .post("/v1/audit/checkpoints", &serde_json::json!({}))
                .await?;
            match output {
                Output::Json => println!("{}", cp.to_json()),
                Output::Text => println!(
                    "Checkpoint {} signed: {} events, head {}",
                    cp.number, cp.events, cp.head_hash
                ),
            }
            Ok(())
        }
        AuditCommand::Key => {
            let key: AuditPublicKey = api.get("/v1/audit/key").await?;
            println!(
                "{}",
                serde_json::to_string(&key).map_err(anyhow::Error::from)?
            );
            Ok(())
        }
    }
}

async fn export(
    api: &ApiClient,
    output: Output,
    from: &str,
    to: &str,
    out: &Path,
    key: Option<&Path>,
) -> Result<(), CliError> {
    // Refuse a bad period before asking the broker for anything.
    crate::app::export::period::parse(from, to).map_err(|e| anyhow::anyhow!(e))?;
    if out.join("manifest.json").exists() {
        return Err(anyhow::anyhow!(
            "{} already holds a bundle; choose a new directory",
            out.display()
        )
        .into());
    }
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| eprint!("Building the evidence bundle…"));
    let resp = api
        .post_raw(
            "/v1/audit/export",
            &serde_json::json!({ "from": from, "to": to }),
        )
        .await?;
    let total = resp.content_length().unwrap_or(0);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(64);
    let dir = out.to_path_buf();
    let unpacker = std::thread::spawn(move || {
        crate::app::export::archive::unpack(
            ChannelReader {
                rx,
                buf: Vec::new(),
                pos: 0,
            },
            &dir,
        )
    });
    let mut received = 0u64;
    let mut progress = crate::edges::cli::progress::Bar::new(bar.is_some(), total);
    let mut resp = resp;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| anyhow::anyhow!("downloading the bundle: {e}"))?
    {
        received += chunk.len() as u64;
        progress.set(received);
        if tx.send(chunk.to_vec()).is_err() {
            break;
        }
    }
    drop(tx);
    progress.done();
    let names = unpacker
        .join()
        .map_err(|_| anyhow::anyhow!("unpacking the bundle failed"))?
        .map_err(|e| anyhow::anyhow!(e))?;
    let manifest: crate::app::export::Manifest = serde_json::from_slice(
        &std::fs::read(out.join("manifest.json"))
            .map_err(|e| anyhow::anyhow!("manifest.json: {e}"))?,
    )
    .map_err(|e| anyhow::anyhow!("manifest.json: {e}"))?;
    let verified = match key {
        Some(k) => {
            Some(verify_bundle(out, &read_key(k)?, Vec::new()).map_err(|e| anyhow::anyhow!(e))?)
        }
        None => None,
    };
    let summary = serde_json::json!({
        "out": out, "files": names, "period": manifest.period,
        "events": manifest.chain.period_seqs, "checkpoint": manifest.checkpoint.as_ref().map(|c| c.number),
        "verified": verified,
    });
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&summary).map_err(anyhow::Error::from)?
        ),
        Output::Text => {
            println!(
                "Wrote {} files to {} for {} .. {} (events {}), ending at checkpoint {}.",
                names.len(),
                out.display(),
                format_at(manifest.period.from),
                format_at(manifest.period.to),
                manifest
                    .chain
                    .period_seqs
                    .map_or("none".into(), |(a, b)| format!("{a}..{b}")),
                manifest
                    .checkpoint
                    .as_ref()
                    .map_or("none".into(), |c| c.number.to_string()),
            );
            println!(
                "Verify it offline: latchkey audit verify --bundle {} --key audit-key.jwk",
                out.display()
            );
        }
    }
    match verified {
        Some(r) if !r.ok => report(Output::Text, "the exported bundle", &r),
        _ => Ok(()),
    }
}

/// Feeds downloaded chunks to the tar reader on its own thread.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn line(e: &AuditEvent) -> String {
    let what = match (&e.resource, &e.role) {
        (Some(r), Some(role)) => format!(" {r}#{role}"),
        _ => String::new(),
    };
    format!(
        "{:>7}  {}  {:<20} {} {}{}{}{}",
        e.seq,
        format_at(e.at),
        e.kind,
        e.actor,
        e.outcome,
        e.subject
            .as_deref()
            .map(|s| format!(" {s}"))
            .unwrap_or_default(),
        what,
        e.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )
}

async fn tail(
    api: &ApiClient,
    output: Output,
    after: Option<i64>,
    follow: bool,
) -> Result<(), CliError> {
    let mut after = match after {
        Some(a) => a,
        None => {
            let last: Vec<AuditEvent> = api.get("/v1/audit/events?last=20&limit=20").await?;
            last.first().map_or(0, |e| e.seq - 1)
        }
    };
    let mut stdout = std::io::stdout();
    loop {
        let wait = if follow { 20 } else { 0 };
        let page: Vec<AuditEvent> = api
            .get(&format!(
                "/v1/audit/events?after={after}&limit=1000&wait={wait}"
            ))
            .await?;
        for e in &page {
            let text = match output {
                Output::Json => {
                    let mut buf = Vec::new();
                    crate::model::audit::chain::write_event(e, true, &mut buf)
                        .map_err(|e| anyhow::anyhow!(e))?;
                    String::from_utf8_lossy(&buf).into_owned()
                }
                Output::Text => line(e),
            };
            if writeln!(stdout, "{text}").is_err() {
                return Ok(());
            }
            after = e.seq;
        }
        let _ = stdout.flush();
        if page.is_empty() && !follow {
            return Ok(());
        }
    }
}
