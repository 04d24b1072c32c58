//! What the custody Lambda functions (tagger, auditor) share, apart from the domain:
//!
//! - [`log`]: one JSON object per log line, with the invocation's `requestId` and a `timestamp`
//!   at the top level (CloudWatch Logs Insights and metric filters read top-level fields only).
//! - [`emf`]: the CloudWatch Embedded Metric Format line each invocation prints.
//! - [`deadline`]: how much of the invocation's time is left, from the Lambda context deadline.

pub mod deadline;
pub mod emf;
pub mod log;

pub use deadline::Deadline;
pub use emf::{MetricLine, Unit};
