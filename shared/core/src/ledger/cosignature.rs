//! Witness cosignatures of checkpoints, C2SP tlog-cosignature v1 with Ed25519
//! (<https://c2sp.org/tlog-cosignature>, "Format" and "Ed25519 signed message").
//!
//! A cosignature is one more signature line on the checkpoint's signed note:
//!
//! ```text
//! custody.example.com/ledger
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//!
//! — custody.example.com/ledger Az3grlgt…            ← the ledger's signature
//! — witness.example.com/w1 jWbPPwAAAABkGFDL…         ← base64(key ID || u64 time || Ed25519 sig)
//! ```
//!
//! The key ID is `SHA-256(<name> || "\n" || 0x04 || public key)[:4]`; the signed message is
//!
//! ```text
//! cosignature/v1
//! time <POSIX seconds, decimal, no leading zeroes>
//! <the checkpoint's note body, final newline included>
//! ```
//!
//! and a v1 cosignature states that, as of that time, this is the largest tree the witness has
//! seen for the origin, consistent with every earlier one. Keys are written like the ledger's
//! (`keys`), with the cosignature algorithm byte 0x04: the secret `PRIVATE+KEY+<name>+<id>+
//! base64(0x04 || seed)` and the vkey `<name>+<id>+base64(0x04 || public key)`.
//!
//! The note format, its parsing and the verification loop are the `signed_note` crate's; what is
//! written here is the cosignature algorithm that crate lacks (its `Signer`/`Verifier` traits for
//! algorithm 0x04), about 100 lines over `ed25519-dalek` (`verify_strict`, as for checkpoints).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use super::checkpoint::Checkpoint;
use super::keys::{KeyError, TrustedKeys, check_name, note_key_bytes, note_key_id, the_verifier};

/// The signed-note signature type of Ed25519 cosignature/v1.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Why a cosigned checkpoint is not believed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CosignatureError {
    #[error("not a signed note: {0}")]
    NotANote(String),
    #[error("no valid cosignature by witness {0}")]
    NotCosigned(String),
    #[error("the cosignature by {0} does not verify")]
    Invalid(String),
    #[error("the checkpoint is not signed by a trusted ledger key: {0}")]
    NotLogSigned(String),
}

/// A witness's signing key.
#[derive(Clone)]
pub struct WitnessSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for WitnessSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WitnessSigner({}+{:08x})", self.name, self.key_id)
    }
}

fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    note_key_id(ALG_COSIGNATURE_V1, name, key)
}

/// `base64(0x04 || 32 bytes)` decoded to the 32 bytes.
fn key_bytes(kind: &'static str, b64: &str) -> Result<[u8; 32], KeyError> {
    note_key_bytes(ALG_COSIGNATURE_V1, kind, b64).map_err(|e| match e {
        KeyError::Algorithm { kind } => KeyError::WitnessAlgorithm { kind },
        other => other,
    })
}

impl WitnessSigner {
    /// A new random witness key named `name` (a schema-less URL naming the witness).
    pub fn generate(name: &str) -> Result<WitnessSigner, KeyError> {
        check_name(name)?;
        Ok(Self::from_parts(
            name,
            SigningKey::generate(&mut rand::rngs::OsRng),
        ))
    }

    fn from_parts(name: &str, key: SigningKey) -> WitnessSigner {
        WitnessSigner {
            name: name.to_string(),
            key_id: key_id(name, &key.verifying_key()),
            key,
        }
    }

    /// Parse `PRIVATE+KEY+<name>+<id>+base64(0x04 || seed)`.
    pub fn from_text(text: &str) -> Result<WitnessSigner, KeyError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyError::SignerShape)?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::SignerShape);
        };
        check_name(name)?;
        let signer = Self::from_parts(
            name,
            SigningKey::from_bytes(&key_bytes("witness signer", b64)?),
        );
        if id_hex != format!("{:08x}", signer.key_id) {
            return Err(KeyError::KeyId {
                kind: "witness signer",
                found: id_hex.to_string(),
                expected: signer.key_id,
            });
        }
        Ok(signer)
    }

    pub fn to_text(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(raw)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> WitnessKey {
        WitnessKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// `note` (a signed checkpoint) with this witness's cosignature at `time` added.
    pub fn cosign(&self, note: &[u8], time: u64) -> Result<Vec<u8>, CosignatureError> {
        let mut parsed = signed_note::Note::from_bytes(note)
            .map_err(|e| CosignatureError::NotANote(e.to_string()))?;
        let at = AtTime { signer: self, time };
        parsed
            .add_sigs(&[&at])
            .map_err(|e| CosignatureError::NotANote(e.to_string()))?;
        Ok(parsed.to_bytes())
    }
}

/// The message a cosignature at `time` signs over a note body.
fn signed_message(time: u64, body: &[u8]) -> Vec<u8> {
    let mut msg = format!("cosignature/v1\ntime {time}\n").into_bytes();
    msg.extend_from_slice(body);
    msg
}

/// A witness signer at one time, as `signed_note` signs with it.
struct AtTime<'a> {
    signer: &'a WitnessSigner,
    time: u64,
}

impl signed_note::Signer for AtTime<'_> {
    fn name(&self) -> &str {
        &self.signer.name
    }

    fn key_id(&self) -> u32 {
        self.signer.key_id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        if self.time > i64::MAX as u64 {
            return Err(ed25519_dalek::SignatureError::new());
        }
        let mut out = self.time.to_be_bytes().to_vec();
        out.extend_from_slice(
            &self
                .signer
                .key
                .sign(&signed_message(self.time, msg))
                .to_bytes(),
        );
        Ok(out)
    }
}

/// A witness's public key: what an auditor trusts (`custody verify --witness-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl WitnessKey {
    /// Parse the vkey `<name>+<id>+base64(0x04 || public key)`.
    pub fn parse(text: &str) -> Result<WitnessKey, KeyError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::VerifierShape(text.trim().to_string()));
        };
        check_name(name)?;
        let key = VerifyingKey::from_bytes(&key_bytes("witness verifier", b64)?)
            .map_err(|e| KeyError::NotEd25519(e.to_string()))?;
        let parsed = WitnessKey {
            name: name.to_string(),
            key_id: key_id(name, &key),
            key,
        };
        if id_hex != format!("{:08x}", parsed.key_id) {
            return Err(KeyError::KeyId {
                kind: "witness verifier",
                found: id_hex.to_string(),
                expected: parsed.key_id,
            });
        }
        Ok(parsed)
    }

    pub fn to_text(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(raw))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// `name+id`.
    pub fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.key_id)
    }

    /// The checkpoint and the time of this witness's cosignature on `note`, which must also be
    /// signed by one of the ledger's `log_keys` under the checkpoint's origin.
    pub fn verify(
        &self,
        note: &[u8],
        log_keys: &TrustedKeys,
    ) -> Result<(Checkpoint, u64), CosignatureError> {
        let parsed = signed_note::Note::from_bytes(note)
            .map_err(|e| CosignatureError::NotANote(e.to_string()))?;
        let checkpoint =
            Checkpoint::parse(note).map_err(|e| CosignatureError::NotANote(e.to_string()))?;
        checkpoint
            .verify(log_keys)
            .map_err(|e| CosignatureError::NotLogSigned(e.to_string()))?;
        let known = OneWitness(self);
        let (verified, _) = parsed.verify(&known).map_err(|e| match e {
            signed_note::NoteError::UnverifiedNote => CosignatureError::NotCosigned(self.label()),
            _ => CosignatureError::Invalid(self.label()),
        })?;
        let sig = verified
            .first()
            .ok_or_else(|| CosignatureError::NotCosigned(self.label()))?;
        let time = u64::from_be_bytes(sig.signature()[..8].try_into().expect("checked length"));
        Ok((checkpoint, time))
    }
}

impl signed_note::Verifier for WitnessKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok::<[u8; 72], _>(sig) = sig.try_into() else {
            return false;
        };
        let time = u64::from_be_bytes(sig[..8].try_into().expect("8 bytes"));
        if time > i64::MAX as u64 {
            return false;
        }
        let signature =
            ed25519_dalek::Signature::from_bytes(sig[8..].try_into().expect("64 bytes"));
        self.key
            .verify_strict(&signed_message(time, msg), &signature)
            .is_ok()
    }
}

/// One witness key as the `signed_note` verifier list.
struct OneWitness<'a>(&'a WitnessKey);

impl signed_note::Verifiers for OneWitness<'_> {
    fn verifier(
        &self,
        name: &str,
        id: u32,
    ) -> Result<&dyn signed_note::Verifier, signed_note::VerificationError> {
        the_verifier([self.0], name, id)
    }
}

#[cfg(test)]
#[path = "cosignature_tests.rs"]
mod tests;
