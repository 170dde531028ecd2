//! `latchkey audit …`: verify the live log or a bundle ([`verify`]), export evidence
//! ([`export`]), follow the log ([`tail`]), sign a checkpoint, print the audit key. The
//! verbs' arguments are [`args`].

mod args;
mod export;
mod tail;
mod verify;

use crate::adapters::keys::audit::AuditPublicKey;
use crate::app::audit_verify::Report;
use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::output::Output;
use crate::model::audit::checkpoint::Checkpoint;

pub use self::args::AuditCommand;
pub use self::verify::verify_offline;

/// Runs an `audit` verb against the broker.
pub async fn run(api: &ApiClient, output: Output, command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify {
            bundle: Some(b),
            key: Some(k),
            checkpoints,
        } => verify_offline(output, &b, &k, checkpoints.as_deref()),
        AuditCommand::Verify { checkpoints, .. } => {
            let outside = verify::read_checkpoints(checkpoints.as_deref())?;
            let r: Report = api
                .post(
                    "/v1/audit/verify",
                    &serde_json::json!({ "checkpoints": outside }),
                )
                .await?;
            verify::report(output, &format!("audit log at {}", api.server()), &r)
        }
        AuditCommand::Export { from, to, out, key } => {
            export::export(api, output, &from, &to, &out, key.as_deref()).await
        }
        AuditCommand::Tail { after, follow } => tail::tail(api, output, after, follow).await,
        AuditCommand::Checkpoint => checkpoint(api, output).await,
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

/// `audit checkpoint`: the broker signs one now.
async fn checkpoint(api: &ApiClient, output: Output) -> Result<(), CliError> {
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
