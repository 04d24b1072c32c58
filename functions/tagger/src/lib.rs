//! The tagger Lambda function as a library, so that tests call the handler directly.
//!
//! Input: S3 event notifications (direct or through SQS) for `*_metadata.json` and
//! `*.custody-manifest.json` keys, or S3 Batch Operations tasks (schema 2.0). Each object is run
//! through [`custody_core::ingest::ingest`]: discovery, hold marking, hashing, ledger append.

pub mod trigger;

use custody_aws::Services;
use custody_core::export::{ExportKey, Manifest, ManifestEntry, StartingPoint};
use custody_core::hold::RunContext;
use custody_core::ingest::{IngestConfig, IngestReport, ingest};
use custody_core::ledger::{Where, Who};
use serde_json::{Value, json};

use trigger::{BatchInvocation, Invocation, Origin, Trigger, parse_invocation};

/// The suffix of the project's own batch manifests (see docs/manifest.md).
pub const MANIFEST_SUFFIX: &str = ".custody-manifest.json";

/// Facts about this invocation that go into every record.
#[derive(Debug, Clone, Default)]
pub struct Invoker {
    pub function: Option<String>,
    pub function_arn: Option<String>,
    pub request_id: Option<String>,
    pub region: Option<String>,
}

impl Invoker {
    fn run_context(&self, source: String) -> RunContext {
        let mut ctx = RunContext::new(source);
        ctx.who = Who {
            principal: self.function_arn.clone(),
            function: self.function.clone(),
            request_id: self.request_id.clone(),
        };
        ctx.where_ = Where {
            region: self.region.clone(),
            account: self
                .function_arn
                .as_deref()
                .and_then(|arn| arn.split(':').nth(4))
                .map(str::to_string),
        };
        ctx
    }
}

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

/// Handle one invocation payload; the returned value is the function's response.
pub async fn handle(
    services: &Services,
    payload: &Value,
    invoker: &Invoker,
) -> Result<Value, String> {
    match parse_invocation(payload)? {
        Invocation::Batch(batch) => Ok(handle_batch(services, &batch, invoker).await),
        Invocation::Notifications(triggers) => {
            let mut failed_messages: Vec<String> = Vec::new();
            let mut to_retry = Vec::new();
            let mut dropped = Vec::new();
            for trigger in triggers {
                let trigger = match trigger {
                    Ok(trigger) => trigger,
                    Err(error) => {
                        tracing::error!(%error, "bad event record");
                        dropped.push(error.to_string());
                        // A malformed message will not improve with retries: it is logged and
                        // dropped from the batch, not redelivered forever.
                        continue;
                    }
                };
                let result = run_trigger(services, &services.config, &trigger, invoker, None).await;
                log_result(&trigger.key, &result);
                if let TriggerResult::Retry(reason) = &result {
                    to_retry.push(format!("{}: {reason}", trigger.key));
                    if let Origin::Sqs { message_id } = &trigger.origin
                        && !failed_messages.contains(message_id)
                    {
                        failed_messages.push(message_id.clone());
                    }
                }
            }
            let is_sqs = payload
                .pointer("/Records/0/eventSource")
                .and_then(Value::as_str)
                == Some("aws:sqs");
            if is_sqs {
                let items: Vec<Value> = failed_messages
                    .iter()
                    .map(|id| json!({ "itemIdentifier": id }))
                    .collect();
                Ok(json!({ "batchItemFailures": items }))
            } else if !to_retry.is_empty() {
                // A direct (asynchronous) invocation that fails is retried by Lambda, then sent
                // to the on-failure destination.
                Err(to_retry.join("; "))
            } else {
                Ok(json!({ "dropped": dropped }))
            }
        }
    }
}

/// Run the main job for one triggering object, with `config` (the services's, or a Batch
/// Operations job's variant of it).
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
        // beside it, so that a file arriving after its metadata is recorded (and its `missing`
        // record resolved).
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
    let report = ingest(
        services.export.clone(),
        &services.ledger,
        config,
        &start,
        &ctx,
    )
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
        Ok(outcome) => TriggerResult::Refused(format!(
            "{} record(s) refused by the ledger: {:?}",
            outcome.rejected.len(),
            outcome.rejected
        )),
        Err(e) => TriggerResult::Retry(format!("ledger append failed: {e}")),
    }
}

/// Batch Operations `userArguments` the tagger understands: `matter` (named on every hold of the
/// job) and `exportJobId` (recorded as the export job).
async fn handle_batch(services: &Services, batch: &BatchInvocation, invoker: &Invoker) -> Value {
    let argument = |name: &str| {
        batch
            .job
            .user_arguments
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut config = services.config.clone();
    if let Some(matter) = argument("matter") {
        config.policy.default_matter = Some(matter);
    }
    let export_job = argument("exportJobId");
    let mut results = Vec::new();
    for task in &batch.tasks {
        let (code, text) = match (
            task.bucket(),
            custody_core::export::decode_s3_url_key(&task.s3_key),
        ) {
            (None, _) => ("PermanentFailure", "the task names no bucket".to_string()),
            (_, Err(e)) => ("PermanentFailure", format!("s3Key: {e}")),
            (Some(bucket), Ok(key)) => {
                let trigger = Trigger {
                    bucket,
                    key: key.clone(),
                    version_id: task.s3_version_id.clone().filter(|v| !v.is_empty()),
                    origin: Origin::S3Notification { sequencer: None },
                };
                let result =
                    run_trigger(services, &config, &trigger, invoker, export_job.clone()).await;
                log_result(&key, &result);
                match result {
                    TriggerResult::Recorded(report) => {
                        let findings = report.objects_with_findings();
                        if findings == 0 {
                            ("Succeeded", summary(&report))
                        } else {
                            (
                                "PermanentFailure",
                                format!("{}; findings recorded in the ledger", summary(&report)),
                            )
                        }
                    }
                    TriggerResult::Retry(reason) => ("TemporaryFailure", reason),
                    TriggerResult::Refused(reason) => ("PermanentFailure", reason),
                }
            }
        };
        results.push(json!({ "taskId": task.task_id, "resultCode": code, "resultString": text }));
    }
    json!({
        "invocationSchemaVersion": batch.invocation_schema_version,
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": batch.invocation_id,
        "results": results,
    })
}

/// A one-line account of a run, for logs and Batch Operations completion reports.
pub fn summary(report: &IngestReport) -> String {
    report.summary().to_string()
}

fn log_result(key: &str, result: &TriggerResult) {
    match result {
        TriggerResult::Recorded(report) => {
            for outcome in &report.hold.outcomes {
                for finding in &outcome.findings {
                    tracing::error!(key = %outcome.observed.key, kind = finding.kind(), finding = %finding, "finding recorded");
                }
            }
            tracing::info!(%key, summary = %summary(report), "recorded");
        }
        TriggerResult::Retry(reason) => tracing::warn!(%key, %reason, "will be retried"),
        TriggerResult::Refused(reason) => tracing::error!(%key, %reason, "refused"),
    }
}

/// `s3://bucket/key#version`: how a record names the input that caused it.
pub fn source_of(bucket: &str, key: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("s3://{bucket}/{key}#{v}"),
        None => format!("s3://{bucket}/{key}"),
    }
}
