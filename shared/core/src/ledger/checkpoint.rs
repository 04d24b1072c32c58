//! Signed checkpoints: a C2SP tlog-checkpoint (origin, tree size, base64 root) in a C2SP signed
//! note (<https://c2sp.org/tlog-checkpoint>, <https://c2sp.org/signed-note>), signed with Ed25519.
//!
//! ```text
//! custody.example.com/ledger
//! 42
//! <base64 root>
//!
//! — custody.example.com/ledger <base64(4-byte key id || 64-byte signature)>
//! ```
//!
//! Signatures are checked one at a time with `ed25519_dalek::VerifyingKey::verify_strict`, the
//! same rule for every checkpoint of every run: the same bytes always get the same verdict.

use signed_note::NoteError;

use super::keys::{Signer, TrustedKeys};
use super::merkle::Hash;

/// The largest checkpoint note read: a checkpoint is three short lines and a few signature
/// lines; a note larger than this is not one custody wrote.
pub const MAX_NOTE_BYTES: usize = 64 << 10;

/// Why text is not a custody checkpoint, or a checkpoint cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the note is {0} bytes, above the {max}-byte cap", max = MAX_NOTE_BYTES)]
    TooLarge(usize),
    #[error("not a signed note: {0}")]
    Note(String),
    #[error("the note is not a C2SP checkpoint")]
    NotCheckpoint,
    #[error("the checkpoint carries extension lines; custody writes none")]
    Extension,
    #[error("the signing key is named {key:?} but the ledger origin is {origin:?}")]
    SignerName { key: String, origin: String },
    #[error("origin {0:?} cannot head a checkpoint")]
    Origin(String),
    #[error("signing the checkpoint: {0}")]
    Signing(String),
}

/// A checkpoint as written: the signed note text, and what its body says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    note: String,
}

/// Why a checkpoint's signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureFailure {
    #[error("not a signed note: {0}")]
    NotANote(String),
    #[error("no signature by a key named after the origin {0:?}")]
    NoOriginSignature(String),
    #[error("signed only by keys that are not trusted ({signers}); trusted: {trusted}")]
    Untrusted { signers: String, trusted: String },
    #[error("{0}")]
    Rejected(String),
}

impl Checkpoint {
    /// Sign the checkpoint (`origin`, `size`, `root`) with `signer`, whose name must be `origin`.
    pub fn sign(
        origin: &str,
        size: u64,
        root: Hash,
        signer: &Signer,
    ) -> Result<Checkpoint, CheckpointError> {
        if signer.name() != origin {
            return Err(CheckpointError::SignerName {
                key: signer.name().to_string(),
                origin: origin.to_string(),
            });
        }
        let body = tlog_tiles::Checkpoint::new(origin, size, tlog_tiles::Hash(root), "")
            .map_err(|_| CheckpointError::Origin(origin.to_string()))?;
        let mut note = signed_note::Note::new(&body.to_bytes(), &[])
            .map_err(|_| CheckpointError::Origin(origin.to_string()))?;
        note.add_sigs(&[signer])
            .map_err(|e| CheckpointError::Signing(e.to_string()))?;
        let note = String::from_utf8(note.to_bytes()).expect("a note is UTF-8");
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            note,
        })
    }

    /// Parse a signed checkpoint note without checking its signatures.
    pub fn parse(note_text: &[u8]) -> Result<Checkpoint, CheckpointError> {
        if note_text.len() > MAX_NOTE_BYTES {
            return Err(CheckpointError::TooLarge(note_text.len()));
        }
        let note = signed_note::Note::from_bytes(note_text)
            .map_err(|e| CheckpointError::Note(e.to_string()))?;
        let body = tlog_tiles::Checkpoint::from_bytes(note.text())
            .map_err(|_| CheckpointError::NotCheckpoint)?;
        if !body.extension().is_empty() {
            return Err(CheckpointError::Extension);
        }
        Ok(Checkpoint {
            origin: body.origin().to_string(),
            size: body.size(),
            root: body.hash().0,
            note: String::from_utf8(note_text.to_vec()).expect("checked as UTF-8 by the parser"),
        })
    }

    /// The signed note, as stored.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// Check that a trusted key named after the origin signed this checkpoint. Returns the label
    /// (`name+id`) of the key that did.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<String, SignatureFailure> {
        let note = signed_note::Note::from_bytes(self.note.as_bytes())
            .map_err(|e| SignatureFailure::NotANote(e.to_string()))?;
        self.judge(note.verify(trusted), trusted)
    }

    /// The verdict on the outcome of a signed note's verification.
    fn judge(
        &self,
        outcome: Result<(Vec<signed_note::Signature>, Vec<signed_note::Signature>), NoteError>,
        trusted: &TrustedKeys,
    ) -> Result<String, SignatureFailure> {
        match outcome {
            Ok((verified, _)) => match verified.iter().find(|s| s.name() == self.origin) {
                Some(sig) => Ok(format!("{}+{:08x}", sig.name(), sig.id())),
                None => Err(SignatureFailure::NoOriginSignature(self.origin.clone())),
            },
            Err(NoteError::UnverifiedNote) => Err(SignatureFailure::Untrusted {
                signers: signature_labels(&self.note).join(", "),
                trusted: if trusted.is_empty() {
                    "none".to_string()
                } else {
                    trusted.labels().join(", ")
                },
            }),
            Err(e) => Err(SignatureFailure::Rejected(e.to_string())),
        }
    }
}

/// `name+id` of every signature line of a note.
fn signature_labels(note: &str) -> Vec<String> {
    note.lines()
        .filter(|l| l.starts_with("— "))
        .filter_map(|l| signed_note::Signature::from_bytes(l.as_bytes()).ok())
        .map(|s| format!("{}+{:08x}", s.name(), s.id()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::merkle::leaf_hash;

    #[test]
    fn signs_parses_and_verifies() {
        let signer = Signer::generate("custody.test/ledger").unwrap();
        let cp = Checkpoint::sign("custody.test/ledger", 7, leaf_hash(b"x"), &signer).unwrap();
        assert!(cp.note().starts_with("custody.test/ledger\n7\n"));
        let parsed = Checkpoint::parse(cp.note().as_bytes()).unwrap();
        assert_eq!(parsed, cp);
        let trusted = TrustedKeys::new(vec![signer.verifier_key()]);
        assert!(parsed.verify(&trusted).is_ok());

        let foreign = Signer::generate("custody.test/ledger").unwrap();
        let err = parsed
            .verify(&TrustedKeys::new(vec![foreign.verifier_key()]))
            .unwrap_err();
        assert!(err.to_string().contains("not trusted"), "{err}");
    }

    #[test]
    fn a_signer_named_otherwise_cannot_sign() {
        let signer = Signer::generate("other").unwrap();
        assert!(Checkpoint::sign("custody.test/ledger", 1, [0; 32], &signer).is_err());
    }
}
