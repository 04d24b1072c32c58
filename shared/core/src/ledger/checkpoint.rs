//! Signed checkpoints: a C2SP tlog-checkpoint (origin, tree size, base64 root) in a C2SP signed
//! note, signed with Ed25519.

use std::cell::RefCell;

use signed_note::NoteError;

use super::keys::{Signer, TrustedKeys, VerifierKey};
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
        self.judge(note.verify(trusted), trusted)
    }

    /// [`Checkpoint::verify`] with the Ed25519 checks left out, to be run later in a batch with
    /// other checkpoints' (see [`super::batch`]): the verdict that `verify` gives when every
    /// deferred check holds, and the checks. The same signed-note rules decide the verdict (which
    /// signature lines count, duplicates, unknown and ambiguous keys), because the note is judged
    /// by the same code with verifiers that record instead of checking.
    pub fn verify_deferred(&self, trusted: &TrustedKeys) -> DeferredVerdict {
        let note = match signed_note::Note::from_bytes(self.note.as_bytes()) {
            Ok(note) => note,
            Err(e) => {
                return DeferredVerdict {
                    if_valid: Err(SignatureFailure(format!("not a signed note: {e}"))),
                    checks: Vec::new(),
                };
            }
        };
        let recorder = Recorder {
            trusted,
            keys: trusted
                .keys()
                .iter()
                .enumerate()
                .map(|(index, key)| RecordingKey {
                    index,
                    key,
                    calls: RefCell::new(Vec::new()),
                })
                .collect(),
        };
        let if_valid = self.judge(note.verify(&recorder), trusted);
        let checks = recorder
            .keys
            .into_iter()
            .flat_map(|k| k.calls.into_inner())
            .collect();
        DeferredVerdict { if_valid, checks }
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
                None => Err(SignatureFailure(format!(
                    "no signature by a key named after the origin {:?}",
                    self.origin
                ))),
            },
            Err(NoteError::UnverifiedNote) => Err(SignatureFailure(format!(
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

/// One Ed25519 check a signed note needs: `signature` over `message` by trusted key `key` (an
/// index into [`TrustedKeys::keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredSignature {
    pub key: usize,
    pub message: Vec<u8>,
    pub signature: Vec<u8>,
}

/// See [`Checkpoint::verify_deferred`].
#[derive(Debug, Clone)]
pub struct DeferredVerdict {
    /// What [`Checkpoint::verify`] returns when every check in `checks` holds.
    pub if_valid: Result<String, SignatureFailure>,
    pub checks: Vec<DeferredSignature>,
}

/// Trusted keys that record each signature they are asked about and accept it.
struct Recorder<'a> {
    trusted: &'a TrustedKeys,
    keys: Vec<RecordingKey<'a>>,
}

struct RecordingKey<'a> {
    index: usize,
    key: &'a VerifierKey,
    calls: RefCell<Vec<DeferredSignature>>,
}

impl signed_note::Verifiers for Recorder<'_> {
    fn verifier(
        &self,
        name: &str,
        id: u32,
    ) -> Result<&dyn signed_note::Verifier, signed_note::VerificationError> {
        // The trusted keys decide which key answers (or that none or several do).
        self.trusted.verifier(name, id)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.key.name() == name && k.key.id() == id)
            .expect("the trusted keys found exactly this key");
        Ok(key)
    }
}

impl signed_note::Verifier for RecordingKey<'_> {
    fn name(&self) -> &str {
        self.key.name()
    }

    fn key_id(&self) -> u32 {
        self.key.id()
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.calls.borrow_mut().push(DeferredSignature {
            key: self.index,
            message: msg.to_vec(),
            signature: sig.to_vec(),
        });
        true
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
