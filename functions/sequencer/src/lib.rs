//! The sequencer Lambda function: the ledger's one integrator (`docs/ledger.md`, "Submissions and
//! the integrator"). It runs with reserved concurrency 1, woken by the ledger bucket's
//! notifications of new submissions (through an SQS queue with a batching window) and by a
//! schedule; the event's content does not matter: every invocation integrates whatever is
//! pending, round after round, until nothing is left or the invocation's time runs short.
//!
//! The response (an SQS batch answer, since the queue reports batch item failures):
//!
//! ```json
//! {"batchItemFailures": [], "summary": {"rounds": 3, "submissions": 812, "appended": 6480,
//!  "already_present": 0, "refused": 0, "left_pending": 0, "tree_size": 1203391}}
//! ```
//!
//! An integration that fails (the ledger cannot be written) is an error: the messages return to
//! the queue and wake the next invocation. The identity set stays in memory between invocations
//! of a warm container, and its snapshot is saved at the end of every invocation that appended.

pub mod env;

use std::time::{Duration, Instant};

use custody_core::ledger::{IntegrateOutcome, Ledger, LedgerError};
use custody_lambda::{Deadline, MetricLine, Unit};
use serde::Serialize;
use serde_json::{Value, json};

/// The CloudWatch namespace of every custody function's metrics.
pub const METRICS_NAMESPACE: &str = "custody";

/// Time kept in hand at the end of an invocation: the last round and the snapshot must fit.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(20);

/// What one invocation integrated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub rounds: usize,
    pub submissions: usize,
    pub appended: usize,
    pub already_present: usize,
    pub refused: usize,
    pub left_pending: usize,
    pub tree_size: u64,
}

impl Summary {
    fn add(&mut self, round: &IntegrateOutcome) {
        self.rounds += 1;
        self.submissions += round.integrated.len();
        self.appended += round.appended;
        self.already_present += round.already_present;
        self.refused += round.refused.len();
        self.left_pending = round.left_pending.len();
        self.tree_size = round.tree_size;
    }

    /// The CloudWatch Embedded Metric Format line of the invocation.
    pub fn metric_line(&self, function: &str, request_id: Option<&str>) -> MetricLine {
        let mut line = MetricLine::new(METRICS_NAMESPACE)
            .dimension("FunctionName", function)
            .metric(
                "SubmissionsIntegrated",
                self.submissions as f64,
                Unit::Count,
            )
            .metric("RecordsAppended", self.appended as f64, Unit::Count)
            .metric(
                "RecordsAlreadyPresent",
                self.already_present as f64,
                Unit::Count,
            )
            .metric("LinesRefused", self.refused as f64, Unit::Count)
            .metric(
                "SubmissionsLeftPending",
                self.left_pending as f64,
                Unit::Count,
            )
            .metric("TreeSize", self.tree_size as f64, Unit::Count);
        if let Some(id) = request_id {
            line = line.property("requestId", json!(id));
        }
        line
    }
}

/// Integrate until nothing is pending or the deadline (less [`DEADLINE_RESERVE`]) is near.
pub async fn handle(ledger: &Ledger, deadline: Deadline) -> Result<(Value, Summary), LedgerError> {
    let stop = deadline
        .remaining()
        .map(|left| Instant::now() + left.saturating_sub(DEADLINE_RESERVE));
    let rounds = ledger.integrate_all(stop).await?;
    let mut summary = Summary::default();
    for round in &rounds {
        summary.add(round);
        for refused in &round.refused {
            tracing::error!(submission = %refused.submission, line = refused.line,
                reason = %refused.reason, "line refused; the submission is kept under rejected/");
        }
        for problem in &round.problems {
            tracing::warn!(%problem, "submission left pending");
        }
    }
    if summary.appended > 0 {
        ledger.save_identity_snapshot(true).await?;
    }
    tracing::info!(?summary, "integrated");
    Ok((
        json!({"batchItemFailures": [], "summary": summary}),
        summary,
    ))
}
