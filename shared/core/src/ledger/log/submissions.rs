//! Submissions: how a writer makes its records durable without racing anyone for the ledger's
//! head (`docs/ledger.md`, "Submissions and the integrator"; the split of sequencing from
//! integration is Trillian Tessera's).
//!
//! A submission is one object of record lines, each a compact JSON custody record and a newline,
//! named by the SHA-256 of its content and sharded by its first byte:
//!
//! ```text
//! <prefix>submissions/3f/3f9c…(64 hex)     written create-only (If-None-Match: *)
//! {"schema":2,"id":"…","event":"hashed",…}\n
//! {"schema":2,"id":"…","event":"hold_applied",…}\n
//! ```
//!
//! The same records submitted twice make the same object, so a retried submission is a no-op.
//! The integrator reads pending submissions, appends their records (each identity at most once
//! in the ledger) and only then deletes them; a submission is therefore either integrated or
//! still pending. Lines it must refuse (not a record, an id that is not the record's identity, a
//! record over [`MAX_RECORD_BYTES`]) are never dropped: the submission is copied under
//! `rejected/` with a `.json` of the reasons before it is deleted.

use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::{ObjectSummary, PutOutcome, PutRequest, StoreErrorKind};

use super::super::error::LedgerError;
use super::super::record::CustodyRecord;
use super::{Ledger, Rejected};

/// The largest record line the ledger takes: C2SP tlog-tiles entry bundles prefix each entry
/// with a 16-bit length.
pub const MAX_RECORD_BYTES: usize = 65_535;

/// The largest submission the integrator reads; a larger one is left pending and reported.
pub const MAX_SUBMISSION_BYTES: u64 = 32 << 20;

/// A submission made durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Submission {
    /// Its key in the ledger's store.
    pub key: String,
    /// The identities it carries, in order.
    pub ids: Vec<String>,
    /// Records refused before submitting (never written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
}

/// One pending submission, read and checked line by line.
#[derive(Debug)]
pub(super) struct PendingSubmission {
    pub key: String,
    pub bytes: bytes::Bytes,
    /// (id, canonical line) of every line that is a record.
    pub records: Vec<(String, Vec<u8>)>,
    pub refused: Vec<RefusedLine>,
}

/// A line of a submission the integrator cannot append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedLine {
    pub submission: String,
    /// 1-based line number in the submission.
    pub line: usize,
    pub reason: String,
}

/// Why a record cannot go into the ledger as it stands, if it cannot.
pub(super) fn refuse(record: &CustodyRecord, line: &[u8]) -> Option<String> {
    if !record.identity_is_consistent() {
        Some("the id is not the identity of the record's fields".into())
    } else if line.len() > MAX_RECORD_BYTES {
        Some(format!(
            "the record is {} bytes, more than the {MAX_RECORD_BYTES} a ledger entry may hold",
            line.len()
        ))
    } else {
        None
    }
}

impl Ledger {
    /// Make `records` durable as one submission. Records that could never be appended are
    /// returned in `rejected` and not written; an empty submission writes nothing.
    pub async fn submit(&self, records: &[CustodyRecord]) -> Result<Submission, LedgerError> {
        let mut body = Vec::new();
        let mut ids = Vec::new();
        let mut rejected = Vec::new();
        for r in records {
            let line = r.to_line();
            if let Some(reason) = refuse(r, &line) {
                rejected.push(Rejected {
                    id: r.id.clone(),
                    reason,
                });
                continue;
            }
            body.extend_from_slice(&line);
            body.push(b'\n');
            ids.push(r.id.clone());
        }
        let key = self.layout.submission(&hex::encode(Sha256::digest(&body)));
        if !ids.is_empty() {
            let mut put = PutRequest::new(key.clone(), body).create_only();
            put.content_type = Some("application/x-ndjson".into());
            match self.store.put(put).await? {
                PutOutcome::Created { .. } | PutOutcome::AlreadyExists => {}
            }
        }
        Ok(Submission { key, ids, rejected })
    }

    /// Whether a submission is still waiting for the integrator.
    pub async fn is_pending(&self, key: &str) -> Result<bool, LedgerError> {
        match self.store.head(key, None).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Wait until every submission in `keys` has been integrated (polling, with `timeout`).
    /// Returns the keys still pending when the time is up.
    pub async fn wait_integrated(
        &self,
        keys: &[String],
        timeout: Duration,
    ) -> Result<Vec<String>, LedgerError> {
        let start = Instant::now();
        let mut pending: Vec<String> = keys.to_vec();
        let mut pause = Duration::from_millis(50);
        loop {
            let mut still = Vec::new();
            for key in pending {
                if self.is_pending(&key).await? {
                    still.push(key);
                }
            }
            pending = still;
            if pending.is_empty() || start.elapsed() >= timeout {
                return Ok(pending);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Pending submissions, oldest key order, as listed.
    pub(super) async fn list_pending(&self) -> Result<Vec<ObjectSummary>, LedgerError> {
        Ok(self.store.list(&self.layout.submissions_prefix()).await?)
    }

    /// Read one submission and check every line.
    pub(super) async fn read_submission(
        &self,
        key: &str,
    ) -> Result<PendingSubmission, LedgerError> {
        let bytes = self.store.get_bytes(key, None).await?;
        let mut records = Vec::new();
        let mut refused = Vec::new();
        for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let refuse_line = |reason: String| RefusedLine {
                submission: key.to_string(),
                line: n + 1,
                reason,
            };
            match serde_json::from_slice::<CustodyRecord>(line) {
                Err(e) => refused.push(refuse_line(format!("not a custody record: {e}"))),
                Ok(r) => {
                    let canonical = r.to_line();
                    match refuse(&r, &canonical) {
                        Some(reason) => refused.push(refuse_line(reason)),
                        None => records.push((r.id, canonical)),
                    }
                }
            }
        }
        Ok(PendingSubmission {
            key: key.to_string(),
            bytes,
            records,
            refused,
        })
    }

    /// Delete an integrated submission; one with refused lines is first kept under `rejected/`
    /// with its reasons.
    pub(super) async fn retire(&self, submission: &PendingSubmission) -> Result<(), LedgerError> {
        if !submission.refused.is_empty() {
            let copy = self.layout.rejected_submission(&submission.key, "");
            let reasons = self.layout.rejected_submission(&submission.key, ".json");
            let why = serde_json::to_vec_pretty(&submission.refused).expect("serializes");
            self.store
                .put(PutRequest::new(copy, submission.bytes.to_vec()).create_only())
                .await?;
            self.store
                .put(PutRequest::new(reasons, why).create_only())
                .await?;
        }
        self.store.delete(&submission.key).await?;
        Ok(())
    }
}
