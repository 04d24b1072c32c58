//! Attestations: one signed statement of what a conversation folder (or an export job)
//! contained, carried by an `attested` record, so that one receipt proves the whole content.
//!
//! The attestation lists, each sorted by key then version:
//!
//! ```json
//! {"scope":"org-1/year=2024/.../conversation_id=c-1/",
//!  "present":[{"key":"…/r1.opus","version_id":"3HL4kqtJ","sha256":"9f86d0…"}],
//!  "missing":["…/r2.opus"],
//!  "unreferenced":[{"key":"…/stray.opus","version_id":null,"sha256":"2c26b4…"}]}
//! ```
//!
//! Its digest is the lower-case hex SHA-256 of that compact JSON (fields in the order above, no
//! spaces, `version_id` `null` when none, `sha256` `null` when the object could not be hashed),
//! and is the `attested` record's `what.sha256`. A verifier recomputes the digest from the
//! record's `attestation` and checks that every entry is backed by an earlier record of the
//! same ledger: `hashed` (key, version, SHA-256) for `present` and `unreferenced` entries that
//! carry a digest, `missing` (key) for `missing` entries.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One object an attestation lists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AttestedObject {
    pub key: String,
    pub version_id: Option<String>,
    pub sha256: Option<String>,
}

/// What one conversation folder or export job contained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// The folder prefix, or `export-job:<id>`.
    pub scope: String,
    pub present: Vec<AttestedObject>,
    pub missing: Vec<String>,
    pub unreferenced: Vec<AttestedObject>,
}

impl Attestation {
    /// Sorts the lists (the canonical order), so the digest depends only on the content.
    pub fn canonical(mut self) -> Self {
        self.present.sort();
        self.present.dedup();
        self.missing.sort();
        self.missing.dedup();
        self.unreferenced.sort();
        self.unreferenced.dedup();
        self
    }

    /// The lower-case hex SHA-256 of the compact JSON of the canonical attestation.
    pub fn digest(&self) -> String {
        let canonical = self.clone().canonical();
        let bytes = serde_json::to_vec(&canonical).expect("an attestation serializes");
        hex::encode(Sha256::digest(bytes))
    }

    /// Whether the lists are already in canonical order (a verifier refuses any other).
    pub fn is_canonical(&self) -> bool {
        *self == self.clone().canonical()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, sha: &str) -> AttestedObject {
        AttestedObject {
            key: key.into(),
            version_id: None,
            sha256: Some(sha.into()),
        }
    }

    #[test]
    fn the_digest_depends_on_the_content_not_the_order() {
        let a = Attestation {
            scope: "f/".into(),
            present: vec![object("b", "2"), object("a", "1")],
            missing: vec!["z".into(), "y".into()],
            unreferenced: vec![],
        };
        let mut b = a.clone();
        b.present.reverse();
        b.missing.reverse();
        assert_eq!(a.digest(), b.digest());
        assert!(!a.is_canonical() && a.clone().canonical().is_canonical());
        let mut c = a.clone();
        c.present[0].sha256 = Some("3".into());
        assert_ne!(a.digest(), c.digest());
        let mut d = a.clone();
        d.missing.pop();
        assert_ne!(a.digest(), d.digest());
    }
}
