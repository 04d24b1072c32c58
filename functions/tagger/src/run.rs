//! One trigger through the main job: a manifest, a metadata file or a single object, then
//! [`custody_core::ingest::ingest`], and what the outcome means for the caller (recorded, retry,
//! refused).

use custody_aws::Services;
use custody_core::export::{ExportKey, Manifest, ManifestEntry, StartingPoint};
use custody_core::ingest::{IngestConfig, IngestReport, ingest};

use crate::summary::{Summary, log_finding};
use crate::trigger::Trigger;
use crate::{Invoker, MANIFEST_SUFFIX, source_of};

/// How one trigger went.
#[derive(Debug)]
pub enum TriggerResult {
    /// Everything found was recorded in the ledger (findings included).
    Recorded(Box<IngestReport>),
    /// The ledger could not take the records, or the input could not be read: retry.
    Retry(String),
    /// The input can never succeed as it stands (malformed manifest, wrong bucket).
    Refused(String),
}

/// Run the main job for one triggering object, with `config` (the services', a Batch Operations
/// job's variant of it, or one with a freshly read matter register).
pub async fn run_trigger(
    services: &Services,
    config: &IngestConfig,
    trigger: &Trigger,
    invoker: &Invoker,
    export_job: Option<String>,
) -> TriggerResult {
    let scope = &config.scope;
    let source = source_of(&trigger.bucket, &trigger.key, trigger.version_id.as_deref());
    let start = if trigger.key.ends_with(MANIFEST_SUFFIX) {
        if let Err(refused) = scope.check(&trigger.bucket, &trigger.key) {
            return TriggerResult::Refused(refused.to_string());
        }
        let bytes = match services
            .export
            .get_bytes(&trigger.key, trigger.version_id.as_deref())
            .await
        {
            Ok(bytes) => bytes,
            Err(e) if e.is_retryable() => return TriggerResult::Retry(e.to_string()),
            Err(e) => return TriggerResult::Refused(e.to_string()),
        };
        match Manifest::from_json(&source, &bytes) {
            Ok(manifest) => StartingPoint::Manifest(manifest),
            Err(e) => return TriggerResult::Refused(e.to_string()),
        }
    } else if trigger.key.ends_with("_metadata.json") {
        StartingPoint::MetadataKey(trigger.key.clone())
    } else if ExportKey::parse(&trigger.key).is_some() {
        // A recording or transcript landed in a conversation folder: start from the metadata
        // beside it, so that a file arriving after its metadata is recorded with its ids and
        // matters (and its `missing` record resolved); without metadata, the object alone.
        StartingPoint::ObjectArrived {
            key: trigger.key.clone(),
            version_id: trigger.version_id.clone(),
        }
    } else {
        let entry = ManifestEntry::new(
            trigger.bucket.clone(),
            trigger.key.clone(),
            trigger.version_id.clone(),
        );
        StartingPoint::Manifest(Manifest::single(source.clone(), entry))
    };
    let mut ctx = invoker.run_context(source);
    ctx.export_job = export_job;
    // Boxed: a run's future is large (units in flight), too large for a worker's stack in
    // unoptimised builds.
    let report = Box::pin(ingest(
        services.export.clone(),
        &services.ledger,
        config,
        &start,
        &ctx,
    ))
    .await;
    if let Some(error) = &report.run_error {
        let reason = format!("{error}; nothing was recorded");
        return if error.is_transient() {
            TriggerResult::Retry(reason)
        } else {
            TriggerResult::Refused(reason)
        };
    }
    match &report.ledger {
        // Transient failures left steps unfinished: what was recorded stays; the message comes
        // back (batch item failure, TemporaryFailure) and the next delivery finishes the rest.
        Ok(_) if report.recorded() && report.needs_retry() => {
            TriggerResult::Retry(report.summary().to_string())
        }
        Ok(_) if report.recorded() => TriggerResult::Recorded(Box::new(report)),
        // Submitted, but (inline) not yet integrated: the next delivery integrates them first.
        Ok(ledger) if ledger.rejected.is_empty() && ledger.refused.is_empty() => {
            TriggerResult::Retry(format!(
                "{} submission(s) not integrated yet: {}",
                ledger.pending.len(),
                report.summary()
            ))
        }
        Ok(ledger) => TriggerResult::Refused(format!(
            "{} record(s) refused by the ledger: {}",
            ledger.rejected.len() + ledger.refused.len(),
            ledger
                .rejected
                .iter()
                .map(|r| format!("{}: {}", r.id, r.reason))
                .chain(ledger.refused.iter().cloned())
                .collect::<Vec<_>>()
                .join("; ")
        )),
        Err(e) => TriggerResult::Retry(format!("ledger write failed: {e}")),
    }
}

/// Log a trigger's result (each finding as structured fields) and count it in `summary`.
pub fn account(trigger: &Trigger, result: &TriggerResult, summary: &mut Summary) {
    let key = trigger.key.as_str();
    let version = trigger.version_id.as_deref();
    match result {
        TriggerResult::Recorded(report) => {
            for shown in &report.shown_findings {
                log_finding(&shown.key, shown.version_id.as_deref(), &shown.finding);
            }
            if report.findings_not_shown > 0 {
                tracing::error!(
                    key,
                    version,
                    more = report.findings_not_shown,
                    "further findings recorded in the ledger, not logged one by one"
                );
            }
            summary.add_report(report);
            tracing::info!(key, version, summary = %crate::summary(report), "recorded");
        }
        TriggerResult::Retry(reason) => {
            summary.retried += 1;
            tracing::warn!(key, version, reason = %reason, "will be retried");
        }
        TriggerResult::Refused(reason) => {
            summary.refused += 1;
            tracing::error!(key, version, reason = %reason, "refused");
        }
    }
}
