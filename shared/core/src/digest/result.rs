//! What hashing one object version found.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Check, CrossCheck};
use crate::store::ObjectHead;

/// The digest of one object version and its cross-checks with what the store knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDigest {
    pub key: String,
    /// The version hashed (every GET was pinned to it); `None` on an unversioned bucket.
    pub version_id: Option<String>,
    pub size: u64,
    /// The ETag at HEAD, without quotes; every GET served this same ETag.
    pub etag: String,
    pub sha256_hex: String,
    /// MD5 of the content, computed only when the ETag is an MD5 and the check is on.
    pub md5_hex: Option<String>,
    /// Which cross-check was made: the stored full-object checksum when there is one, else the
    /// ETag as MD5, else none (and why).
    pub cross_check: CrossCheck,
    /// The ETag against the MD5 of the content (not applicable when a stored full-object
    /// checksum was the cheaper cross-check).
    pub etag_check: Check,
    /// The stored full-object checksum (`x-amz-checksum-*`, of its own algorithm) against the
    /// same algorithm computed in the pass.
    pub checksum_check: Check,
    /// The stored checksum's algorithm and the value computed for it, base64 as S3 shows it
    /// (for SHA-256, the same as [`ObjectDigest::sha256_base64`]).
    pub computed_checksum: Option<(String, String)>,
    /// Requests retried (transient errors and resumed bodies) on the way.
    pub retries: u32,
    /// What HEAD said about the pinned version (metadata, legal hold, stored checksum...), so that
    /// callers need not ask again.
    pub head: ObjectHead,
}

impl ObjectDigest {
    /// The SHA-256 in the base64 form S3 uses for `x-amz-checksum-sha256`.
    pub fn sha256_base64(&self) -> String {
        let raw = hex::decode(&self.sha256_hex).expect("sha256_hex is produced as hex");
        BASE64.encode(raw)
    }

    /// Whether a cross-check found the content disagreeing with what the store recorded.
    pub fn has_mismatch(&self) -> bool {
        self.etag_check.is_mismatch() || self.checksum_check.is_mismatch()
    }

    /// One line per mismatch, naming the key, version and the two values.
    pub fn findings(&self) -> Vec<String> {
        let mut findings = Vec::new();
        let stored = match self.head.checksum.as_ref() {
            Some(checksum) => format!("stored {} checksum", checksum.algorithm()),
            None => "stored checksum".to_string(),
        };
        for (what, check) in [
            ("ETag (MD5)", &self.etag_check),
            (stored.as_str(), &self.checksum_check),
        ] {
            if let Check::Mismatch { expected, actual } = check {
                findings.push(format!(
                    "{:?} version {:?}: {what} is {expected} but the content hashes to {actual}",
                    self.key, self.version_id
                ));
            }
        }
        findings
    }
}
