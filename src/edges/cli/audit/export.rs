//! `audit export`: refuses a bad period or a used directory before asking, downloads the
//! bundle while a thread unpacks it, optionally verifies it with the audit key, and says
//! what was written.

use std::io::IsTerminal;
use std::path::Path;

use crate::app::audit_verify::Report;
use crate::app::export::bundle::verify_bundle;
use crate::app::export::Manifest;
use crate::edges::cli::audit::verify::{read_key, report};
use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::{CliError, Verdict};
use crate::edges::cli::output::{exit, Output};
use crate::model::audit::format_at;

/// Writes the bundle of `from`..`to` into `out`; with `key`, verifies it there. A bundle
/// that does not verify is the verifier's exit code.
pub(super) async fn export(
    api: &ApiClient,
    output: Output,
    from: &str,
    to: &str,
    out: &Path,
    key: Option<&Path>,
) -> Result<(), CliError> {
    refuse_early(from, to, out)?;
    let names = download(api, from, to, out).await?;
    let manifest = read_manifest(out)?;
    let verified = match key {
        Some(k) => {
            Some(verify_bundle(out, &read_key(k)?, Vec::new()).map_err(|e| anyhow::anyhow!(e))?)
        }
        None => None,
    };
    match verified {
        // In JSON the summary is the failure's details, the one object on stdout.
        Some(r) if !r.ok && output == Output::Json => {
            let summary = summary(out, &names, &manifest, Some(&r));
            Err(CliError::Verdict(Verdict {
                code: "audit_not_verified",
                message: "the exported bundle did not verify".into(),
                exit_code: exit::TAMPERED,
                details: summary,
            }))
        }
        Some(r) if !r.ok => {
            print_summary(output, out, &names, &manifest, Some(&r))?;
            report(Output::Text, "the exported bundle", &r)
        }
        r => print_summary(output, out, &names, &manifest, r.as_ref()),
    }
}

/// Refuses a bad period, or a directory that holds a bundle, before asking the broker for
/// anything.
fn refuse_early(from: &str, to: &str, out: &Path) -> Result<(), CliError> {
    crate::app::export::period::parse(from, to).map_err(|e| anyhow::anyhow!(e))?;
    if out.join("manifest.json").exists() {
        return Err(anyhow::anyhow!(
            "{} already holds a bundle; choose a new directory",
            out.display()
        )
        .into());
    }
    Ok(())
}

/// Downloads the bundle, showing progress on a terminal, and unpacks it into `out` on its
/// own thread as it arrives; returns the names of the files written.
async fn download(
    api: &ApiClient,
    from: &str,
    to: &str,
    out: &Path,
) -> Result<Vec<String>, CliError> {
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
    Ok(names)
}

/// The manifest of the bundle unpacked in `out`.
fn read_manifest(out: &Path) -> Result<Manifest, CliError> {
    let manifest = serde_json::from_slice(
        &std::fs::read(out.join("manifest.json"))
            .map_err(|e| anyhow::anyhow!("manifest.json: {e}"))?,
    )
    .map_err(|e| anyhow::anyhow!("manifest.json: {e}"))?;
    Ok(manifest)
}

/// The summary as JSON: the files, the period, its events, the closing checkpoint and the
/// verification.
fn summary(
    out: &Path,
    names: &[String],
    manifest: &Manifest,
    verified: Option<&Report>,
) -> serde_json::Value {
    serde_json::json!({
        "out": out, "files": names, "period": manifest.period,
        "events": manifest.chain.period_seqs, "checkpoint": manifest.checkpoint.as_ref().map(|c| c.number),
        "verified": verified,
    })
}

/// What was written: the files, the period, its events, the closing checkpoint and, when
/// checked, the verification.
fn print_summary(
    output: Output,
    out: &Path,
    names: &[String],
    manifest: &Manifest,
    verified: Option<&Report>,
) -> Result<(), CliError> {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&summary(out, names, manifest, verified))
                .map_err(anyhow::Error::from)?
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
    Ok(())
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
