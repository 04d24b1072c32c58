//! What one invocation did, three ways: the `summary` member of the function's response, one
//! structured log line per finding, and the CloudWatch Embedded Metric Format line
//! ([`custody_lambda::emf`]) the template's alarms read:
//!
//! ```text
//! {"_aws":{"Timestamp":...,"CloudWatchMetrics":[{"Namespace":"custody","Dimensions":[["FunctionName"]],
//!   "Metrics":[{"Name":"Objects","Unit":"Count"},{"Name":"BytesHashed","Unit":"Bytes"},...]}]},
//!  "FunctionName":"custody-tagger","Objects":4,"BytesHashed":18233,"Findings":1,"Findings.missing":1,...}
//! ```

use std::collections::BTreeMap;

use custody_core::hold::Finding;
use custody_core::ingest::IngestReport;
use custody_lambda::{MetricLine, Unit};
use serde::Serialize;
use serde_json::json;

use crate::events::Shape;

/// The CloudWatch namespace of the tagger's metrics.
pub const METRICS_NAMESPACE: &str = "custody";

/// Every kind of finding, as logs and metrics name it.
pub const FINDING_KINDS: [&str; 10] = [
    "missing",
    "unreferenced",
    "out-of-scope",
    "failed",
    "overwritten",
    "cannot-mark",
    "invalid-metadata",
    "mismatch",
    "superseded",
    "retry",
];

/// The kind of a finding, one of [`FINDING_KINDS`].
pub fn finding_kind(finding: &Finding) -> &'static str {
    match finding {
        Finding::Missing { .. } => "missing",
        Finding::Unreferenced { .. } => "unreferenced",
        Finding::OutOfScope { .. } => "out-of-scope",
        Finding::Failed { .. } => "failed",
        Finding::Overwritten { .. } => "overwritten",
        Finding::CannotMark { .. } => "cannot-mark",
        Finding::InvalidMetadata { .. } => "invalid-metadata",
        Finding::Mismatch { .. } => "mismatch",
        Finding::Superseded { .. } => "superseded",
        Finding::Retry { .. } => "retry",
    }
}

/// The metric name of a kind as the core counts it ([`Finding::kind`]); `None` for counts that
/// are not findings of an object (rejected manifest entries are counted as refused input).
fn metric_kind(core_kind: &str) -> Option<&'static str> {
    FINDING_KINDS
        .into_iter()
        .find(|kind| kind.replace('-', "_") == core_kind)
}

/// Log one finding as structured fields (kind, object, and the finding's own fields).
pub fn log_finding(key: &str, version: Option<&str>, finding: &Finding) {
    let kind = finding_kind(finding);
    match finding {
        Finding::Retry { action, message } => tracing::warn!(
            finding = kind,
            key,
            version,
            action = %action,
            error = %message,
            "transient failure, not recorded: to be retried"
        ),
        Finding::Missing { named_by } => {
            tracing::error!(finding = kind, key, version, named_by = %named_by, "finding recorded")
        }
        Finding::Unreferenced { reason } | Finding::OutOfScope { reason } => {
            tracing::error!(finding = kind, key, version, reason = %reason, "finding recorded")
        }
        Finding::Failed {
            action,
            code,
            likely_permission,
            message,
        } => tracing::error!(
            finding = kind,
            key,
            version,
            action = %action,
            code = code.as_deref(),
            likely_permission = likely_permission.as_deref(),
            error = %message,
            "finding recorded"
        ),
        Finding::Superseded {
            recorded_version,
            recorded_sha256,
            recorded_at,
            sha256,
        } => tracing::error!(
            finding = kind,
            key,
            version,
            recorded_version = recorded_version.as_deref(),
            recorded_sha256 = %recorded_sha256,
            recorded_at = %recorded_at,
            sha256 = %sha256,
            "finding recorded"
        ),
        Finding::Overwritten { newer_version } => tracing::error!(
            finding = kind,
            key,
            version,
            newer_version = newer_version.as_deref(),
            "finding recorded"
        ),
        Finding::CannotMark { mechanism, reason } => tracing::error!(
            finding = kind,
            key,
            version,
            mechanism = mechanism.as_str(),
            reason = %reason,
            "finding recorded"
        ),
        Finding::InvalidMetadata { field, problem } => tracing::error!(
            finding = kind,
            key,
            version,
            field = field.as_deref(),
            problem = %problem,
            "finding recorded"
        ),
        Finding::Mismatch {
            what,
            expected,
            actual,
        } => tracing::error!(
            finding = kind,
            key,
            version,
            what = %what,
            expected = %expected,
            actual = %actual,
            "finding recorded"
        ),
    }
}

/// Counts over one invocation; serialised as the `summary` of the response.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The invocation's shape (`sqs` for a queue batch, whatever each message held).
    pub shape: Option<Shape>,
    /// SQS messages received.
    pub messages: usize,
    /// Objects the invocation was asked to start from.
    pub triggers: usize,
    /// Records that needed nothing (test events, events other than "object created").
    pub ignored: usize,
    /// Objects discovered and processed.
    pub objects: usize,
    /// Object versions already recorded: skipped, not read.
    pub skipped: usize,
    pub held: usize,
    pub hashed: usize,
    pub bytes_hashed: u64,
    /// Findings by kind (only kinds that occurred).
    pub findings: BTreeMap<&'static str, usize>,
    /// Records made durable as submissions.
    pub records_submitted: usize,
    pub records_appended: usize,
    pub records_already_present: usize,
    /// Triggers that failed in a way worth retrying (returned to the queue or to Lambda).
    pub retried: usize,
    /// Triggers that can never succeed as they stand (returned to the queue: dead-letter path).
    pub refused: usize,
    /// Messages or records that could not be parsed (returned to the queue: dead-letter path).
    pub unparseable: usize,
    /// SQS messages not started because the invocation's time was running out.
    pub deferred: usize,
    /// SQS messages answered as batch item failures (retried, refused, unparseable, deferred).
    pub failed_messages: usize,
    /// Whether the matter register was re-read in this invocation.
    pub register_reloaded: bool,
    pub duration_ms: u64,
}

impl Summary {
    /// Add what one ingest run did.
    pub fn add_report(&mut self, report: &IngestReport) {
        self.objects += report.objects;
        self.skipped += report.skipped;
        self.held += report.held;
        self.hashed += report.hashed;
        self.bytes_hashed += report.bytes_hashed;
        for (kind, n) in &report.findings {
            if let Some(kind) = metric_kind(kind) {
                *self.findings.entry(kind).or_default() += n;
            }
        }
        if let Ok(ledger) = &report.ledger {
            self.records_submitted += ledger.submitted;
            self.records_appended += ledger.appended;
            self.records_already_present += ledger.already_present;
        }
    }

    pub fn finding_count(&self) -> usize {
        self.findings.values().sum()
    }

    /// The EMF line for this invocation. Every metric is present (zeros included) so that the
    /// alarms see data, not gaps; findings by kind as `Findings.<kind>`.
    pub fn metric_line(&self, function: &str, request_id: Option<&str>) -> MetricLine {
        let count = |n: usize| n as f64;
        let mut line = MetricLine::new(METRICS_NAMESPACE)
            .dimension("FunctionName", function)
            .metric("Objects", count(self.objects), Unit::Count)
            .metric("ObjectsSkipped", count(self.skipped), Unit::Count)
            .metric("ObjectsHeld", count(self.held), Unit::Count)
            .metric("ObjectsHashed", count(self.hashed), Unit::Count)
            .metric("BytesHashed", self.bytes_hashed as f64, Unit::Bytes)
            .metric("Findings", count(self.finding_count()), Unit::Count)
            .metric(
                "RecordsSubmitted",
                count(self.records_submitted),
                Unit::Count,
            )
            .metric("RecordsAppended", count(self.records_appended), Unit::Count)
            .metric(
                "RecordsAlreadyPresent",
                count(self.records_already_present),
                Unit::Count,
            )
            .metric("Retried", count(self.retried), Unit::Count)
            .metric("Refused", count(self.refused), Unit::Count)
            .metric("MessagesUnparseable", count(self.unparseable), Unit::Count)
            .metric("MessagesDeferred", count(self.deferred), Unit::Count)
            .metric("MessagesFailed", count(self.failed_messages), Unit::Count)
            .metric("Duration", self.duration_ms as f64, Unit::Milliseconds);
        for kind in FINDING_KINDS {
            let n = self.findings.get(kind).copied().unwrap_or(0);
            line = line.metric(&format!("Findings.{kind}"), count(n), Unit::Count);
        }
        if let Some(id) = request_id {
            line = line.property("requestId", json!(id));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn schema() -> jsonschema::Validator {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../lambda/schemas/cloudwatch-emf.schema.json"
        );
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    }

    #[test]
    fn the_tagger_metric_line_is_valid_emf_with_every_metric_present() {
        let mut summary = Summary {
            objects: 4,
            bytes_hashed: 18_233,
            deferred: 2,
            failed_messages: 3,
            duration_ms: 1_250,
            ..Summary::default()
        };
        summary.findings.insert("missing", 1);
        let line = summary
            .metric_line("custody-tagger", Some("8f5c"))
            .to_json(1_764_629_409_123);
        let errors: Vec<String> = schema().iter_errors(&line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name} has no value");
        }
        assert_eq!(line["FunctionName"], "custody-tagger");
        assert_eq!(line["Findings"], 1.0);
        assert_eq!(line["Findings.missing"], 1.0);
        assert_eq!(line["Findings.failed"], 0.0);
        assert_eq!(line["MessagesDeferred"], 2.0);
        assert_eq!(line["BytesHashed"], 18_233.0);
        assert_eq!(line["requestId"], "8f5c");
    }
}
