//! Verification as the CLI shows it: the audit key and outside checkpoints read from
//! files, a bundle verified offline, and a report printed with the exit code it implies.

use std::path::Path;

use anyhow::Context;

use crate::adapters::keys::audit::AuditPublicKey;
use crate::adapters::sink;
use crate::app::audit_verify::Report;
use crate::app::export::bundle::verify_bundle;
use crate::edges::cli::error::{CliError, Verdict};
use crate::edges::cli::output::{exit, Output};
use crate::model::audit::checkpoint::Checkpoint;

/// The audit public key from a JWK file.
pub(super) fn read_key(path: &Path) -> Result<AuditPublicKey, CliError> {
    // The I/O error stays in the chain: its failure's code is `io_error`.
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the audit key {}", path.display()))?;
    AuditPublicKey::from_jwk(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()).into())
}

/// The checkpoints kept in `dir` (none without one).
pub(super) fn read_checkpoints(dir: Option<&Path>) -> Result<Vec<Checkpoint>, CliError> {
    match dir {
        None => Ok(Vec::new()),
        Some(d) => sink::read_checkpoint_dir(d).map_err(|e| anyhow::anyhow!(e).into()),
    }
}

/// Prints a report; a tampered log is exit code [`exit::TAMPERED`].
pub(super) fn report(output: Output, what: &str, r: &Report) -> Result<(), CliError> {
    let verdict = |details| {
        CliError::Verdict(Verdict {
            code: "audit_not_verified",
            message: format!("{what} did not verify"),
            exit_code: exit::TAMPERED,
            details,
        })
    };
    match output {
        // The report of a failed verification is the failure's own details.
        Output::Json if !r.ok => {
            return Err(verdict(
                serde_json::to_value(r).map_err(anyhow::Error::from)?,
            ))
        }
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
        Err(verdict(serde_json::Value::Null))
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
