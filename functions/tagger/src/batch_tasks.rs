//! Answering S3 Batch Operations: one result per task, in the response shape of the User Guide
//! (batch-ops-invoke-lambda):
//!
//! ```text
//! {"invocationSchemaVersion": "2.0", "treatMissingKeysAs": "PermanentFailure",
//!  "invocationId": "...", "results": [{"taskId": "...", "resultCode": "Succeeded",
//!  "resultString": "1 object(s), 1 held, ..."}]}
//! ```
//!
//! `userArguments` the tagger understands (schema 2.0): `matter` (named on every hold of the
//! job) and `exportJobId` (recorded as the export job).

use custody_aws::Services;
use custody_core::ingest::IngestConfig;
use serde_json::{Value, json};

use crate::Invoker;
use crate::events::BatchInvocation;
use crate::run::{TriggerResult, account, run_trigger};
use crate::summary::Summary;
use crate::trigger::{Origin, Trigger};

/// Run every task; `config` is `Err` when the matter register could not be brought up to date
/// (every task is then a `TemporaryFailure`).
pub async fn answer(
    services: &Services,
    config: Result<IngestConfig, String>,
    batch: &BatchInvocation,
    invoker: &Invoker,
    summary: &mut Summary,
) -> Value {
    let argument = |name: &str| {
        batch
            .job
            .user_arguments
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let config = config.map(|mut config| {
        if let Some(matter) = argument("matter") {
            config.policy.default_matter = Some(matter);
        }
        config
    });
    let export_job = argument("exportJobId");
    let mut results = Vec::new();
    for task in &batch.tasks {
        summary.triggers += 1;
        let key = task
            .s3_key
            .as_deref()
            .map(custody_core::export::decode_s3_url_key);
        let (code, text) = match (task.bucket(), key) {
            (None, _) => {
                summary.unparseable += 1;
                ("PermanentFailure", "the task names no bucket".to_string())
            }
            (_, None) => {
                summary.unparseable += 1;
                ("PermanentFailure", "the task has no s3Key".to_string())
            }
            (_, Some(Err(e))) => {
                summary.unparseable += 1;
                ("PermanentFailure", format!("s3Key: {e}"))
            }
            (Some(bucket), Some(Ok(key))) => {
                let trigger = Trigger {
                    bucket,
                    key,
                    version_id: task.s3_version_id.clone(),
                    origin: Origin::BatchTask {
                        task_id: task.task_id.clone(),
                    },
                };
                let result = match &config {
                    Ok(config) => {
                        run_trigger(services, config, &trigger, invoker, export_job.clone()).await
                    }
                    Err(reason) => TriggerResult::Retry(reason.clone()),
                };
                account(&trigger, &result, summary);
                match result {
                    TriggerResult::Recorded(report) => {
                        let line = crate::summary(&report);
                        if report.objects_with_findings() == 0 {
                            ("Succeeded", line)
                        } else {
                            (
                                "PermanentFailure",
                                format!("{line}; findings recorded in the ledger"),
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
