//! What the auditor trusts comes from its configuration, never only from the ledger bucket it
//! is checking (whoever can write the bucket could publish their own key):
//!
//! - `CUSTODY_TRUSTED_KEYS`: one or more verifier keys in the signed-note format
//!   (`<name>+<key id hex>+<base64 key>`, as `custody keygen` prints), separated by commas,
//!   spaces or newlines. Required.
//! - `CUSTODY_PINNED_CHECKPOINT`: optional; a signed checkpoint the ledger must extend (C2SP
//!   tlog-checkpoint note), as its text or, since template parameters hold one line, as base64
//!   of its text. `/verify` then also proves the ledger consistent with it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use custody_core::ledger::{Checkpoint, VerifierKey};

pub const ENV_TRUSTED_KEYS: &str = "CUSTODY_TRUSTED_KEYS";
pub const ENV_PINNED_CHECKPOINT: &str = "CUSTODY_PINNED_CHECKPOINT";

/// A trust setting that is missing or malformed, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error(
        "{ENV_TRUSTED_KEYS}: not set; give the ledger's verifier key(s) (custody keygen prints them)"
    )]
    NoKeys,
    #[error("{ENV_TRUSTED_KEYS}: key {index}: {problem}")]
    BadKey { index: usize, problem: String },
    #[error("{ENV_PINNED_CHECKPOINT}: {0}")]
    BadCheckpoint(String),
}

/// The trusted verifier keys in `text`.
pub fn parse_keys(text: &str) -> Result<Vec<VerifierKey>, TrustError> {
    let keys: Vec<&str> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(TrustError::NoKeys);
    }
    keys.iter()
        .enumerate()
        .map(|(index, key)| {
            VerifierKey::parse(key).map_err(|e| TrustError::BadKey {
                index,
                problem: e.to_string(),
            })
        })
        .collect()
}

/// The pinned checkpoint in `text` (note text, or base64 of it).
pub fn parse_checkpoint(text: &str) -> Result<Checkpoint, TrustError> {
    let trimmed = text.trim();
    let note = if trimmed.contains('\n') {
        format!("{trimmed}\n").into_bytes()
    } else {
        STANDARD
            .decode(trimmed)
            .map_err(|e| TrustError::BadCheckpoint(format!("neither a note nor base64: {e}")))?
    };
    Checkpoint::parse(&note).map_err(|e| TrustError::BadCheckpoint(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use custody_core::ledger::Signer;

    #[test]
    fn keys_are_read_from_a_list_and_a_bad_one_is_named() {
        let a = Signer::generate("custody.test/a").unwrap().verifier_key();
        let b = Signer::generate("custody.test/b").unwrap().verifier_key();
        let keys = parse_keys(&format!("{}, {}\n", a.to_text(), b.to_text())).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(matches!(parse_keys("  "), Err(TrustError::NoKeys)));
        let error = parse_keys(&format!("{},garbage", a.to_text())).unwrap_err();
        assert!(
            matches!(error, TrustError::BadKey { index: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_checkpoint_that_is_not_a_note_is_refused() {
        assert!(matches!(
            parse_checkpoint("bm90IGEgbm90ZQ=="),
            Err(TrustError::BadCheckpoint(_))
        ));
        assert!(matches!(
            parse_checkpoint("!!"),
            Err(TrustError::BadCheckpoint(_))
        ));
    }
}
