//! Evidence exports: a fresh checkpoint (unless the log is broken), the bundle of a
//! period written by `export`, and the `audit.exported` event that names the manifest by
//! its hash.

use std::path::Path;

use chrono::Utc;

use crate::app::audit::CheckpointTrigger;
use crate::app::error::ServiceError;
use crate::app::export;
use crate::app::export::{Manifest, Period};
use crate::app::services::Audit;
use crate::model::audit::problem::Problem;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::Principal;

impl Audit {
    /// Writes the evidence bundle of `period` into `dir`: first a fresh checkpoint so the
    /// bundle ends at one, then the files, then an `audit.exported` event. `now` is the
    /// time of export: a period that ends after it is clipped to it.
    pub async fn export_audit(
        &self,
        p: &Principal,
        period: Period,
        dir: &Path,
        origin: &Origin,
        progress: export::Progress<'_>,
        now: chrono::DateTime<Utc>,
    ) -> Result<Manifest, ServiceError> {
        self.require_audit_read(p)?;
        if period.to <= period.from {
            return Err(ServiceError::BadRequest(
                "the period's end must come after its start".into(),
            ));
        }
        if export::period::clip(period, now).is_none() {
            return Err(ServiceError::BadRequest(
                "the period starts in the future; nothing in it has happened yet".into(),
            ));
        }
        // A broken log is still exported (reads answer), without a checkpoint over it.
        let broken = self.core.store.audit_guard().is_broken();
        if !broken {
            self.checkpoint(CheckpointTrigger::OnDemand, Utc::now())
                .await?;
        }
        let (manifest, problem) = export::write_bundle(
            &self.core.store,
            &self.audit_key,
            period,
            p.policy_name(),
            dir,
            progress,
            now,
        )
        .await
        .map_err(|e| match e {
            export::ExportError::Store(s) => ServiceError::Store(s),
            export::ExportError::NotStarted => ServiceError::BadRequest(
                "the period starts in the future; nothing in it has happened yet".into(),
            ),
            io => ServiceError::Export(io.to_string()),
        })?;
        let event = exported_event(p, period, dir, &manifest, problem.as_ref(), origin)?;
        if broken {
            tracing::warn!("evidence exported from a broken audit log; the export is not audited");
            return Ok(manifest);
        }
        let mut tx = self.core.store.begin().await?;
        tx.append_audit(&event).await?;
        tx.commit().await?;
        Ok(manifest)
    }
}

/// The `audit.exported` event of a bundle written into `dir`: its period, its checkpoint,
/// and its manifest's signature and hash (of the file as written, as an auditor will
/// hash it); a failure when the bundle found a problem.
fn exported_event(
    p: &Principal,
    period: Period,
    dir: &Path,
    manifest: &Manifest,
    problem: Option<&Problem>,
    origin: &Origin,
) -> Result<AuditEvent, ServiceError> {
    let manifest_hash = std::fs::read(dir.join("manifest.json"))
        .map(|bytes| crate::model::digest::sha256_hex(&bytes))
        .map_err(|e| ServiceError::Export(e.to_string()))?;
    let mut event = AuditEvent::new(EventKind::AuditExported, &p.user_id, origin, Utc::now())?
        .outcome(
            if problem.is_some() {
                "failure"
            } else {
                "success"
            },
            problem.map(|p| p.message.clone()),
        )
        .details(serde_json::json!({
            "from": crate::model::audit::format_at(manifest.period.from),
            "to": crate::model::audit::format_at(manifest.period.to),
            "asked_to": (manifest.period.to != period.to)
                .then(|| crate::model::audit::format_at(period.to)),
            "period_seqs": manifest.chain.period_seqs,
            "checkpoint": manifest.checkpoint.as_ref().map(|c| c.number),
            "manifest_signature": manifest.signature,
            "manifest_sha256": manifest_hash,
        }));
    event.subject = Some("audit".into());
    Ok(event)
}
