//! Signed checkpoints: a C2SP tlog-checkpoint (origin, tree size, base64 root) in a C2SP signed
//! note, signed with Ed25519.

use super::keys::{Signer, TrustedKeys};
use super::merkle::Hash;

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
#[error("{0}")]
pub struct SignatureFailure(pub String);

impl Checkpoint {
    /// Sign the checkpoint (`origin`, `size`, `root`) with `signer`, whose name must be `origin`.
    pub fn sign(
        origin: &str,
        size: u64,
        root: Hash,
        signer: &Signer,
    ) -> Result<Checkpoint, String> {
        if signer.name() != origin {
            return Err(format!(
                "the signing key is named {:?} but the ledger origin is {origin:?}",
                signer.name()
            ));
        }
        let body = tlog_tiles::Checkpoint::new(origin, size, tlog_tiles::Hash(root), "")
            .map_err(|_| format!("origin {origin:?} cannot head a checkpoint"))?;
        let mut note = signed_note::Note::new(&body.to_bytes(), &[])
            .map_err(|e| format!("checkpoint for origin {origin:?}: {e}"))?;
        note.add_sigs(&[signer])
            .map_err(|e| format!("signing the checkpoint: {e}"))?;
        let note = String::from_utf8(note.to_bytes()).expect("a note is UTF-8");
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            note,
        })
    }

    /// Parse a signed checkpoint note without checking its signatures.
    pub fn parse(note_text: &[u8]) -> Result<Checkpoint, String> {
        let note = signed_note::Note::from_bytes(note_text)
            .map_err(|e| format!("not a signed note: {e}"))?;
        let body = tlog_tiles::Checkpoint::from_bytes(note.text())
            .map_err(|_| "the note is not a C2SP checkpoint".to_string())?;
        if !body.extension().is_empty() {
            return Err("the checkpoint carries extension lines; custody writes none".into());
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
            .map_err(|e| SignatureFailure(format!("not a signed note: {e}")))?;
        match note.verify(trusted) {
            Ok((verified, _)) => match verified.iter().find(|s| s.name() == self.origin) {
                Some(sig) => Ok(format!("{}+{:08x}", sig.name(), sig.id())),
                None => Err(SignatureFailure(format!(
                    "no signature by a key named after the origin {:?}",
                    self.origin
                ))),
            },
            Err(signed_note::NoteError::UnverifiedNote) => Err(SignatureFailure(format!(
                "signed only by keys that are not trusted ({}); trusted: {}",
                signature_labels(&self.note).join(", "),
                if trusted.is_empty() {
                    "none".to_string()
                } else {
                    trusted.labels().join(", ")
                }
            ))),
            Err(e) => Err(SignatureFailure(e.to_string())),
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
        assert!(err.0.contains("not trusted"), "{err}");
    }

    #[test]
    fn a_signer_named_otherwise_cannot_sign() {
        let signer = Signer::generate("other").unwrap();
        assert!(Checkpoint::sign("custody.test/ledger", 1, [0; 32], &signer).is_err());
    }
}
