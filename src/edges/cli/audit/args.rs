//! The `audit` verbs' arguments, as clap reads them.

use std::path::PathBuf;

use clap::Subcommand;

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
        #[arg(long, value_parser = crate::app::export::period::bound)]
        from: String,
        /// Last day included (YYYY-MM-DD) or first instant excluded (RFC 3339).
        #[arg(long, value_parser = crate::app::export::period::bound)]
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
