//! The tagger Lambda function as a library, so that tests call the handler directly.
//!
//! Input: every shape AWS delivers an "object created" in (S3 event notifications direct, through
//! SNS or SQS, EventBridge direct or through SQS, `s3:TestEvent`) for `*_metadata.json` and
//! `*.custody-manifest.json` keys, and S3 Batch Operations tasks (schemas 1.0 and 2.0); see
//! [`events`]. Each object is run through [`custody_core::ingest::ingest`]: discovery, hold
//! marking, hashing, ledger append. Output: SQS partial batch failures, Batch Operations task
//! results, or a summary, each with the invocation's [`summary::Summary`].

pub mod batch_tasks;
pub mod env;
pub mod events;
pub mod handler;
pub mod register;
pub mod run;
pub mod summary;
pub mod trigger;

use custody_aws::Services;
use custody_core::hold::RunContext;
use custody_core::ledger::{Where, Who};
use serde_json::Value;

pub use handler::{HandleError, Options, Outcome, Tagger};
pub use run::{TriggerResult, run_trigger};

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

/// Handle one invocation payload with no deadline and no register watch (tests, local runs);
/// the returned value is the function's response.
pub async fn handle(
    services: &Services,
    payload: &Value,
    invoker: &Invoker,
) -> Result<Value, HandleError> {
    Tagger::new(services)
        .handle(payload, invoker, custody_lambda::Deadline::none())
        .await
        .response
}

/// A one-line account of a run, for logs and Batch Operations completion reports.
pub fn summary(report: &custody_core::ingest::IngestReport) -> String {
    report.summary().to_string()
}

/// `s3://bucket/key#version`: how a record names the input that caused it.
pub fn source_of(bucket: &str, key: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("s3://{bucket}/{key}#{v}"),
        None => format!("s3://{bucket}/{key}"),
    }
}
