//! S3 Batch Operations "Invoke AWS Lambda function" tasks (S3 User Guide, batch-ops-invoke-lambda),
//! parsed with `aws_lambda_events`' `S3BatchJobEvent`:
//!
//! ```text
//! 1.0: {"invocationSchemaVersion": "1.0", "invocationId": "...", "job": {"id": "..."},
//!       "tasks": [{"taskId": "...", "s3Key": "url%3Dencoded", "s3VersionId": "...",
//!                  "s3BucketArn": "arn:aws:s3:::bucket"}]}
//! 2.0: {"invocationSchemaVersion": "2.0", ..., "job": {"id": "...", "userArguments": {...}},
//!       "tasks": [{"taskId": "...", "s3Key": "...", "s3VersionId": "...", "s3Bucket": "bucket"}]}
//! ```
//!
//! `s3Bucket` and `userArguments` (2.0) are not fields of the crate's structs and are read from
//! their catch-all maps. Every task must be answered with `Succeeded`, `TemporaryFailure` or
//! `PermanentFailure`.

use aws_lambda_events::event::s3::batch_job::S3BatchJobEvent;
use serde_json::{Map, Value};

use super::PayloadError;

/// An S3 Batch Operations invocation: every task must be answered.
#[derive(Debug, Clone)]
pub struct BatchInvocation {
    pub invocation_schema_version: String,
    pub invocation_id: String,
    pub job: BatchJob,
    pub tasks: Vec<BatchTask>,
}

#[derive(Debug, Clone)]
pub struct BatchJob {
    pub id: String,
    /// Schema 2.0 only: the job's `userArguments`.
    pub user_arguments: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct BatchTask {
    pub task_id: String,
    /// Still URL-encoded, as Batch Operations sends it.
    pub s3_key: Option<String>,
    pub s3_version_id: Option<String>,
    /// The bucket name (2.0 `s3Bucket`, or the last part of the 1.0 `s3BucketArn`).
    pub bucket: Option<String>,
}

impl BatchTask {
    pub fn bucket(&self) -> Option<String> {
        self.bucket.clone()
    }
}

pub(super) fn parse(payload: &Value) -> Result<BatchInvocation, PayloadError> {
    let event: S3BatchJobEvent =
        serde_json::from_value(payload.clone()).map_err(|e| PayloadError::Batch(e.to_string()))?;
    let version = event.invocation_schema_version.clone().unwrap_or_default();
    if version != "1.0" && version != "2.0" {
        return Err(PayloadError::Batch(format!(
            "field invocationSchemaVersion: {version:?} (this function answers 1.0 and 2.0)"
        )));
    }
    let invocation_id = event
        .invocation_id
        .clone()
        .ok_or_else(|| PayloadError::Batch("field invocationId is missing".to_string()))?;
    let mut tasks = Vec::with_capacity(event.tasks.len());
    for (i, task) in event.tasks.iter().enumerate() {
        let task_id = task
            .task_id
            .clone()
            .ok_or_else(|| PayloadError::Batch(format!("tasks[{i}]: field taskId is missing")))?;
        let bucket = task
            .other
            .get("s3Bucket")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                task.s3_bucket_arn
                    .as_deref()
                    .map(|arn| arn.rsplit(':').next().unwrap_or(arn).to_string())
            })
            .filter(|b| !b.is_empty());
        tasks.push(BatchTask {
            task_id,
            s3_key: task.s3_key.clone().filter(|k| !k.is_empty()),
            s3_version_id: crate::trigger::version_of(task.s3_version_id.clone()),
            bucket,
        });
    }
    let user_arguments = event
        .job
        .other
        .get("userArguments")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(BatchInvocation {
        invocation_schema_version: version,
        invocation_id,
        job: BatchJob {
            id: event.job.id.clone().unwrap_or_default(),
            user_arguments,
        },
        tasks,
    })
}
