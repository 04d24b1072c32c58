//! The run context: who ran, where, from which input, with which tool. Records are built from it
//! (`crate::ingest::records`).

use chrono::{DateTime, Utc};

use crate::ledger::{How, Where, Who};

/// Who ran, where, from which input, with which tool: the parts of a record the engine cannot
/// know by itself.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub who: Who,
    pub where_: Where,
    /// The input that caused the run (`s3://bucket/key#version` of the metadata or manifest).
    pub source: String,
    pub how: How,
    pub export_job: Option<String>,
    pub at: DateTime<Utc>,
}

impl RunContext {
    pub fn new(source: impl Into<String>) -> Self {
        RunContext {
            who: Who::default(),
            where_: Where::default(),
            source: source.into(),
            how: How::default(),
            export_job: None,
            at: Utc::now(),
        }
    }
}
