//! One custody record: who did what to which object version, when, where, why, how, and what
//! happened. A record is stored as one line of JSON; the Merkle leaf is exactly those bytes.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::attestation::Attestation;
use super::identity::{fact_identity, legacy_identity};

/// The record schema written today. Schema 2: a record's identity is the fact it states
/// ([`super::identity`]); schema 1 records (identity by object, event and source) still verify.
pub const RECORD_SCHEMA: u32 = 2;

/// What happened to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The object version was seen in an export (metadata, manifest, event).
    Observed,
    /// The configured hold marking was applied (or found already in place).
    HoldApplied,
    /// The object version was hashed; `what.sha256` holds the digest.
    Hashed,
    /// A later check found the version still hashing to the recorded digest and still on hold.
    Verified,
    /// A file the export names is not in the bucket.
    Missing,
    /// An object in a conversation folder that no metadata names.
    Unreferenced,
    /// A digest, size, ETag or checksum disagreed with what was expected or recorded.
    Mismatch,
    /// The hold was released.
    HoldReleased,
    /// A step failed (access denied, bad input, ...); `outcome.error` says which and why.
    Failed,
    /// The recorded version of an object has a successor with other content; `what.version_id` is
    /// the recorded version, `what.new_version_id` and `what.sha256` the successor's.
    Superseded,
    /// An object recorded as `missing` appeared later; `outcome.detail` names the `missing` record.
    Resolved,
    /// A signed statement of what one conversation folder or export job contained.
    Attested,
}

impl EventKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Observed => "observed",
            EventKind::HoldApplied => "hold_applied",
            EventKind::Hashed => "hashed",
            EventKind::Verified => "verified",
            EventKind::Missing => "missing",
            EventKind::Unreferenced => "unreferenced",
            EventKind::Mismatch => "mismatch",
            EventKind::HoldReleased => "hold_released",
            EventKind::Failed => "failed",
            EventKind::Superseded => "superseded",
            EventKind::Resolved => "resolved",
            EventKind::Attested => "attested",
        }
    }
}

/// Who acted: the AWS principal, the function and the request, or the local user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Which object version, and what it measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct What {
    pub bucket: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Lower-case hex SHA-256 of the version's bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The checksum S3 stores for the version, as `ALGORITHM:base64` (suffix `-N` when composite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_checksum: Option<String>,
    /// The version created by a metadata copy, when the marking made one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_version_id: Option<String>,
}

/// Where: the AWS region and account, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Where {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// Why: the export and the legal matter the object belongs to, and what triggered the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Why {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_job: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matter: Option<String>,
    /// The input that caused this record: the metadata file or manifest, as
    /// `s3://bucket/key#version` (or a path), part of the record's identity.
    pub source: String,
}

impl Why {
    /// The matters `matter` names (several are joined with `+`).
    pub fn matters(&self) -> Vec<String> {
        self.matter
            .iter()
            .flat_map(|m| m.split('+'))
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// How: the tool and its version, and the marking mechanisms in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct How {
    pub tool: String,
    pub tool_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mechanisms: Vec<String>,
}

impl Default for How {
    fn default() -> Self {
        How {
            tool: "custody".to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            mechanisms: Vec::new(),
        }
    }
}

/// A failed step: the S3 action, the service's error code, the permission that is likely missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likely_missing_permission: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// A sentence for the reader of the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordedError>,
}

/// One custody event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyRecord {
    pub schema: u32,
    /// Deterministic identity: the fact the record states (`super::identity`).
    pub id: String,
    pub event: EventKind,
    /// RFC 3339, UTC, milliseconds.
    pub at: String,
    pub who: Who,
    pub what: What,
    #[serde(rename = "where")]
    pub where_: Where,
    pub why: Why,
    pub how: How,
    pub outcome: Outcome,
    /// Only on `attested` records: what the folder or export job contained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
}

impl CustodyRecord {
    /// A record of schema [`RECORD_SCHEMA`], its identity computed from the fact it states.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        event: EventKind,
        at: DateTime<Utc>,
        who: Who,
        what: What,
        where_: Where,
        why: Why,
        how: How,
        outcome: Outcome,
    ) -> Self {
        let mut record = CustodyRecord {
            schema: RECORD_SCHEMA,
            id: String::new(),
            event,
            at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            who,
            what,
            where_,
            why,
            how,
            outcome,
            attestation: None,
        };
        record.id = record.identity();
        record
    }

    /// An `attested` record: `what.sha256` is the attestation's digest, and the identity
    /// follows from it.
    pub fn attesting(mut self, attestation: Attestation) -> Self {
        let attestation = attestation.canonical();
        self.what.sha256 = Some(attestation.digest());
        self.attestation = Some(attestation);
        self.id = self.identity();
        self
    }

    /// The identity the record's own fields give under its schema's rule; empty for an unknown
    /// schema, which no `id` matches.
    pub fn identity(&self) -> String {
        match self.schema {
            1 => legacy_identity(&self.what, self.event, &self.why.source),
            2 => fact_identity(self),
            _ => String::new(),
        }
    }

    /// Whether `id` matches the record's own identity fields.
    pub fn identity_is_consistent(&self) -> bool {
        !self.id.is_empty() && self.id == self.identity()
    }

    /// The exact bytes stored in the ledger (one JSON line without its newline).
    pub fn to_line(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a custody record always serializes")
    }
}
